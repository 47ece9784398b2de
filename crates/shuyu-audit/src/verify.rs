//! The offline verifier behind `shuyu audit verify`. Fed the stored rows in sequence order,
//! it recomputes every leaf hash and the root at every signed tree head, and stops at the
//! first problem, naming the event. It keeps only the Merkle tree of hashes, never the events.

use std::borrow::Borrow;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::{leaf_hash, verify_tree_head, AuditError, Hash, MerkleTree, SignedTreeHead, StoredEvent};

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Events read and checked.
    pub events: u64,
    /// Size of the recomputed tree (equal to `events` on success).
    pub size: u64,
    /// Root of the recomputed tree.
    pub root: Hash,
    /// Signed tree heads whose signature and root were checked.
    pub tree_heads_checked: u64,
    /// Size of the largest signed tree head checked (0 if none): events from here on are
    /// vouched for only by the database's head counter, not by a signature.
    pub signed_size: u64,
}

type Progress<'a> = Box<dyn FnMut(u64) + Send + 'a>;

/// A streaming verifier: [`push`](Self::push) every row in `ORDER BY seq` order, then
/// [`finish`](Self::finish). After the first error every later call returns that same error.
pub struct Verifier<'a> {
    key: VerifyingKey,
    /// Sorted by size; `heads[next_head..]` are not yet checked.
    heads: Vec<SignedTreeHead>,
    next_head: usize,
    /// The event count claimed by the database's head row, if known.
    expected: Option<u64>,
    tree: MerkleTree,
    /// Size of the last tree head that matched; events below it are intact.
    last_good: u64,
    /// A row skipped ahead of the next expected seq: `(missing, seen)`. Decided on the next
    /// row, which tells a deleted event from one that merely comes later.
    gap: Option<(u64, u64)>,
    failed: Option<AuditError>,
    /// Reused for every event's canonical bytes.
    buf: Vec<u8>,
    /// `(every, next report at, callback)`.
    progress: Option<(u64, u64, Progress<'a>)>,
}

impl std::fmt::Debug for Verifier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("size", &self.tree.size())
            .field("expected", &self.expected)
            .field("heads", &self.heads.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<'a> Verifier<'a> {
    /// `heads` are all stored signed tree heads (any order); `expected` is the event count the
    /// database's head row claims.
    pub fn new(key: VerifyingKey, mut heads: Vec<SignedTreeHead>, expected: Option<u64>) -> Self {
        heads.sort_by_key(|h| h.head.size);
        Self {
            key,
            heads,
            next_head: 0,
            expected,
            // Reserve for the claimed size, but not blindly: the counter may have been tampered.
            tree: MerkleTree::with_capacity(expected.and_then(|n| usize::try_from(n).ok()).unwrap_or(0).min(1 << 21)),
            last_good: 0,
            gap: None,
            failed: None,
            buf: Vec::with_capacity(512),
            progress: None,
        }
    }

    /// Calls `report(events_checked)` every `every` events (and once at the end).
    pub fn with_progress(mut self, every: u64, report: impl FnMut(u64) + Send + 'a) -> Self {
        let every = every.max(1);
        self.progress = Some((every, every, Box::new(report)));
        self
    }

    /// Events checked so far.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Checks the next stored row.
    pub fn push(&mut self, row: &StoredEvent) -> Result<(), AuditError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.check_row(row);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Ends the stream: checks what must come after the last row.
    pub fn finish(mut self) -> Result<VerifyReport, AuditError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.check_end()?;
        let size = self.tree.size();
        if let Some((_, _, report)) = self.progress.as_mut() {
            report(size);
        }
        Ok(VerifyReport {
            events: size,
            size,
            root: self.tree.root(),
            tree_heads_checked: self.next_head as u64,
            signed_size: self.last_good,
        })
    }

    /// Takes the next leaf on its stored hash alone: an archived event whose contents are in an
    /// archive file, not in the database. Its position and every tree head over it are still
    /// checked; its contents are checked only where the archive is read ([`crate::verify_chain`]).
    pub fn push_leaf(&mut self, seq: u64, leaf: crate::Hash) -> Result<(), AuditError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = match self.check_position(seq) {
            Ok(true) => self.append(leaf),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Checks that `seq` may come next; `false` when it is ahead of a gap (decided on the next
    /// row).
    fn check_position(&mut self, seq: u64) -> Result<bool, AuditError> {
        let next = self.tree.size();
        if next == 0 {
            // Heads over the empty log are checked before the first event.
            self.check_heads()?;
        }
        if let Some((missing, seen)) = self.gap {
            return Err(if seq == missing {
                AuditError::EventOutOfOrder { seq, follows: seen }
            } else {
                AuditError::EventMissing { seq: missing }
            });
        }
        if seq < next {
            // `next` ≥ 1 here, so the previous event exists.
            return Err(AuditError::EventOutOfOrder { seq, follows: next.saturating_sub(1) });
        }
        if let Some(expected) = self.expected {
            if next >= expected {
                return Err(AuditError::EventInserted { seq, expected });
            }
        }
        if seq > next {
            self.gap = Some((next, seq));
            return Ok(false);
        }
        Ok(true)
    }

    fn append(&mut self, leaf: crate::Hash) -> Result<(), AuditError> {
        self.tree.append(leaf);
        let size = self.tree.size();
        if let Some((every, at, report)) = self.progress.as_mut() {
            if size >= *at {
                report(size);
                *at = at.saturating_add(*every);
            }
        }
        self.check_heads()
    }

    fn check_row(&mut self, row: &StoredEvent) -> Result<(), AuditError> {
        if !self.check_position(row.event.seq)? {
            return Ok(());
        }
        self.buf.clear();
        row.event.write_canonical(&mut self.buf);
        if leaf_hash(&self.buf) != row.leaf_hash {
            return Err(AuditError::EventAltered { seq: row.event.seq });
        }
        self.append(row.leaf_hash)
    }

    /// Checks every head whose size is the current tree size.
    fn check_heads(&mut self) -> Result<(), AuditError> {
        let size = self.tree.size();
        while let Some(sth) = self.heads.get(self.next_head) {
            if sth.head.size != size {
                break;
            }
            verify_tree_head(&self.key, sth)?;
            if sth.head.root != self.tree.root() {
                return Err(AuditError::TreeHeadMismatch { size, from: self.last_good });
            }
            self.last_good = size;
            self.next_head += 1;
        }
        Ok(())
    }

    fn check_end(&mut self) -> Result<(), AuditError> {
        self.check_heads()?;
        if let Some((missing, _)) = self.gap {
            return Err(AuditError::EventMissing { seq: missing });
        }
        let size = self.tree.size();
        if let Some(expected) = self.expected {
            if expected > size {
                return Err(AuditError::EventsMissingAtEnd { from: size, expected });
            }
        }
        // Heads beyond the last event: either forged (bad signature) or their events are gone.
        let mut claimed = size;
        for sth in self.heads.get(self.next_head..).unwrap_or_default() {
            verify_tree_head(&self.key, sth)?;
            claimed = claimed.max(sth.head.size);
        }
        if claimed > size {
            return Err(AuditError::EventsMissingAtEnd { from: size, expected: claimed });
        }
        Ok(())
    }
}

/// Verifies a whole log in one call: `rows` in `ORDER BY seq` order, `expected` the count from
/// the database's head row, `heads` every stored signed tree head. `progress(events_checked)`
/// is called every `progress_every` events and once at the end.
pub fn verify_log<I>(
    key: &VerifyingKey,
    heads: Vec<SignedTreeHead>,
    expected: Option<u64>,
    rows: I,
    progress_every: u64,
    progress: impl FnMut(u64) + Send,
) -> Result<VerifyReport, AuditError>
where
    I: IntoIterator,
    I::Item: Borrow<StoredEvent>,
{
    let mut verifier = Verifier::new(*key, heads, expected).with_progress(progress_every, progress);
    for row in rows {
        verifier.push(row.borrow())?;
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditEvent, Outcome, TreeHead, TreeSigner};
    use chrono::{DateTime, Duration, Utc};
    use std::sync::{Arc, Mutex};

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn event(seq: u64) -> AuditEvent {
        AuditEvent {
            seq,
            time: start() + Duration::milliseconds(seq as i64 * 1500),
            actor: format!("user:{}", seq % 3),
            organisation: if seq % 2 == 0 { "org:1".into() } else { String::new() },
            action: "dataset.read".into(),
            resource: format!("dataset:{seq}"),
            outcome: if seq % 5 == 0 { Outcome::Denied } else { Outcome::Success },
            request_id: format!("req-{seq}"),
            client_addr: "192.0.2.7".into(),
            details: if seq % 4 == 0 {
                serde_json::Value::Null
            } else {
                serde_json::json!({"rows": seq, "cols": ["a", "b"]})
            },
        }
    }

    fn stored(e: AuditEvent) -> StoredEvent {
        StoredEvent { leaf_hash: e.leaf_hash(), event: e }
    }

    struct Log {
        signer: TreeSigner,
        rows: Vec<StoredEvent>,
        heads: Vec<SignedTreeHead>,
    }

    /// `n` events with a signed tree head after every 10th.
    fn log(n: u64) -> Log {
        let signer = TreeSigner::generate();
        let mut tree = MerkleTree::new();
        let mut rows = Vec::new();
        let mut heads = Vec::new();
        for seq in 0..n {
            let row = stored(event(seq));
            tree.append(row.leaf_hash);
            rows.push(row);
            if (seq + 1) % 10 == 0 {
                let head = TreeHead {
                    size: tree.size(),
                    root: tree.root(),
                    timestamp: start() + Duration::minutes(seq as i64),
                };
                heads.push(signer.sign(&head));
            }
        }
        Log { signer, rows, heads }
    }

    impl Log {
        fn run(&self, expected: Option<u64>) -> Result<VerifyReport, AuditError> {
            verify_log(&self.signer.verifying_key(), self.heads.clone(), expected, &self.rows, 10, |_| {})
        }
    }

    #[test]
    fn an_intact_log_verifies() {
        let l = log(35);
        let report = l.run(Some(35)).unwrap();
        let tree = MerkleTree::from_leaves(l.rows.iter().map(|r| r.leaf_hash));
        assert_eq!(
            report,
            VerifyReport { events: 35, size: 35, root: tree.root(), tree_heads_checked: 3, signed_size: 30 }
        );
        // Without a head counter, and with heads given in any order, too.
        let mut shuffled = l.heads.clone();
        shuffled.reverse();
        let report = verify_log(&l.signer.verifying_key(), shuffled, None, l.rows.iter(), 7, |_| {}).unwrap();
        assert_eq!(report.tree_heads_checked, 3);
    }

    #[test]
    fn empty_logs() {
        let signer = TreeSigner::generate();
        let rows: Vec<StoredEvent> = Vec::new();
        let report = verify_log(&signer.verifying_key(), vec![], Some(0), &rows, 10, |_| {}).unwrap();
        assert_eq!((report.events, report.root), (0, crate::empty_root()));
        // A signed head over the empty log is checked as well.
        let empty = signer.sign(&TreeHead { size: 0, root: crate::empty_root(), timestamp: start() });
        let report = verify_log(&signer.verifying_key(), vec![empty.clone()], None, &rows, 10, |_| {}).unwrap();
        assert_eq!(report.tree_heads_checked, 1);
        let wrong = signer.sign(&TreeHead { size: 0, root: crate::leaf_hash(b""), timestamp: start() });
        assert_eq!(
            verify_log(&signer.verifying_key(), vec![wrong], None, &rows, 10, |_| {}),
            Err(AuditError::TreeHeadMismatch { size: 0, from: 0 })
        );
        // Everything deleted, counter too, but a signed head remembers.
        let l = log(20);
        assert_eq!(
            verify_log(&l.signer.verifying_key(), l.heads.clone(), Some(0), &rows, 10, |_| {}),
            Err(AuditError::EventsMissingAtEnd { from: 0, expected: 20 })
        );
    }

    #[test]
    fn progress_is_reported() {
        let l = log(35);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        verify_log(&l.signer.verifying_key(), l.heads.clone(), Some(35), &l.rows, 10, move |n| {
            sink.lock().unwrap().push(n)
        })
        .unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![10, 20, 30, 35]);
    }

    #[test]
    fn an_altered_event_is_named() {
        let mut l = log(35);
        l.rows[12].event.action = "dataset.delete".into();
        assert_eq!(l.run(Some(35)), Err(AuditError::EventAltered { seq: 12 }));
        let mut l = log(35);
        l.rows[3].event.details = serde_json::json!({"rows": 4, "cols": ["a", "b"]});
        assert_eq!(l.run(Some(35)), Err(AuditError::EventAltered { seq: 3 }));
        // The stored hash altered instead of the event.
        let mut l = log(35);
        l.rows[34].leaf_hash = crate::leaf_hash(b"x");
        assert_eq!(l.run(Some(35)), Err(AuditError::EventAltered { seq: 34 }));
    }

    #[test]
    fn an_event_altered_with_a_recomputed_hash_breaks_its_tree_head() {
        let mut l = log(35);
        l.rows[12].event.outcome = Outcome::Success;
        l.rows[12].event.actor = "user:admin".into();
        l.rows[12].leaf_hash = l.rows[12].event.leaf_hash();
        let err = l.run(Some(35)).unwrap_err();
        assert_eq!(err, AuditError::TreeHeadMismatch { size: 20, from: 10 });
        assert_eq!(
            err.to_string(),
            "tree head at size 20 does not match the events; an event from 10 to 19 was altered"
        );
        // Before the first head: nothing narrows it further than the start.
        let mut l = log(35);
        l.rows[0].event.actor = "user:admin".into();
        l.rows[0].leaf_hash = l.rows[0].event.leaf_hash();
        assert_eq!(l.run(Some(35)), Err(AuditError::TreeHeadMismatch { size: 10, from: 0 }));
    }

    #[test]
    fn deletions_are_named() {
        let mut first = log(35);
        first.rows.remove(0);
        assert_eq!(first.run(Some(35)), Err(AuditError::EventMissing { seq: 0 }));
        let mut middle = log(35);
        middle.rows.remove(17);
        assert_eq!(middle.run(Some(35)), Err(AuditError::EventMissing { seq: 17 }));
        assert_eq!(middle.run(Some(35)).unwrap_err().to_string(), "event 17 is missing (deleted)");
        // Several in a row: the first is named.
        let mut run = log(35);
        run.rows.drain(5..9);
        assert_eq!(run.run(None), Err(AuditError::EventMissing { seq: 5 }));
        let mut last = log(35);
        last.rows.pop();
        let err = last.run(Some(35)).unwrap_err();
        assert_eq!(err, AuditError::EventsMissingAtEnd { from: 34, expected: 35 });
        assert_eq!(err.to_string(), "event 34 is missing (deleted from the end; the log should hold 35 events)");
        // The tail and the head counter both cut back: the signed head at 30 still knows.
        let mut tail = log(35);
        tail.rows.truncate(25);
        let err = tail.run(Some(25)).unwrap_err();
        assert_eq!(err, AuditError::EventsMissingAtEnd { from: 25, expected: 30 });
        assert_eq!(
            err.to_string(),
            "events 25 to 29 are missing (deleted from the end; the log should hold 30 events)"
        );
        // Cut back to a head boundary and the heads after it deleted too: undetectable offline
        // (only a previously published head or a consistency proof can catch it).
        let mut cut = log(35);
        cut.rows.truncate(20);
        cut.heads.truncate(2);
        assert!(cut.run(Some(20)).is_ok());
    }

    #[test]
    fn swaps_duplicates_and_insertions_are_named() {
        // Two rows delivered in the wrong order.
        let mut l = log(35);
        l.rows.swap(3, 4);
        let err = l.run(Some(35)).unwrap_err();
        assert_eq!(err, AuditError::EventOutOfOrder { seq: 3, follows: 4 });
        assert_eq!(err.to_string(), "event 3 is out of order (it comes after event 4)");
        // Two events' contents swapped under their sequence numbers (what a database edit does).
        let mut l = log(35);
        let (a, b) = (l.rows[3].clone(), l.rows[4].clone());
        l.rows[3] = StoredEvent { event: AuditEvent { seq: 3, ..b.event }, leaf_hash: b.leaf_hash };
        l.rows[4] = StoredEvent { event: AuditEvent { seq: 4, ..a.event }, leaf_hash: a.leaf_hash };
        assert_eq!(l.run(Some(35)), Err(AuditError::EventAltered { seq: 3 }));
        // A duplicated row.
        let mut l = log(35);
        let again = l.rows[4].clone();
        l.rows.insert(5, again);
        let err = l.run(Some(35)).unwrap_err();
        assert_eq!(err, AuditError::EventOutOfOrder { seq: 4, follows: 4 });
        assert_eq!(err.to_string(), "event 4 is out of order (event 4 appears twice)");
        // An extra event appended beyond the head counter.
        let mut l = log(35);
        l.rows.push(stored(event(35)));
        assert_eq!(l.run(Some(35)), Err(AuditError::EventInserted { seq: 35, expected: 35 }));
        // An extra event slipped into the middle, later events renumbered to make room.
        let mut l = log(35);
        let mut forged = event(10);
        forged.action = "forged".into();
        l.rows.insert(10, stored(forged));
        for (i, row) in l.rows.iter_mut().enumerate().skip(11) {
            row.event.seq = i as u64;
            row.leaf_hash = row.event.leaf_hash();
        }
        l.rows.pop();
        assert_eq!(l.run(Some(35)), Err(AuditError::TreeHeadMismatch { size: 20, from: 10 }));
        // … and without recomputing hashes, the first renumbered event is named.
        let mut l = log(35);
        l.rows.insert(10, stored(event(10)));
        for (i, row) in l.rows.iter_mut().enumerate().skip(11) {
            row.event.seq = i as u64;
        }
        assert_eq!(l.run(Some(36)), Err(AuditError::EventAltered { seq: 11 }));
    }

    #[test]
    fn forged_tree_heads_are_named() {
        let mut l = log(35);
        l.heads[1].head.timestamp += Duration::days(1);
        let err = l.run(Some(35)).unwrap_err();
        assert_eq!(err, AuditError::TreeHeadSignature { size: 20 });
        assert_eq!(err.to_string(), "tree head at size 20 has a bad signature");
        // A head signed by another key.
        let mut l = log(35);
        let other = TreeSigner::generate();
        l.heads[0] = other.sign(&l.heads[0].head);
        assert_eq!(l.run(Some(35)), Err(AuditError::TreeHeadSignature { size: 10 }));
        // A forged head beyond the end is reported as forged, not as missing events.
        let mut l = log(35);
        let mut beyond = l.heads[2].clone();
        beyond.head.size = 50;
        l.heads.push(beyond);
        assert_eq!(l.run(Some(35)), Err(AuditError::TreeHeadSignature { size: 50 }));
    }

    #[test]
    fn the_first_error_sticks() {
        let mut l = log(15);
        l.rows[2].event.actor = "x".into();
        let mut v = Verifier::new(l.signer.verifying_key(), l.heads.clone(), Some(15));
        v.push(&l.rows[0]).unwrap();
        v.push(&l.rows[1]).unwrap();
        assert_eq!(v.push(&l.rows[2]), Err(AuditError::EventAltered { seq: 2 }));
        assert_eq!(v.push(&l.rows[3]), Err(AuditError::EventAltered { seq: 2 }));
        assert_eq!(v.size(), 2);
        assert_eq!(v.finish(), Err(AuditError::EventAltered { seq: 2 }));
    }
}
