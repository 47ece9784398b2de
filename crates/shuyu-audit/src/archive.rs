//! Archive files of old audit events (YXO §19). Events past the retention period may leave the
//! database, but only into an archive that keeps them verifiable: a gzip-compressed JSON-lines
//! file whose first line is a header naming the range `[first, end)` and carrying the signed
//! tree head at size `end`, followed by one line per event with its leaf hash.
//!
//! An archive always ends at a signed tree head, so a chain of archives from event 0 verifies
//! on its own with the public key ([`verify_chain`]); the database keeps the archived events'
//! leaf hashes, so proofs and later tree heads keep working after the rows are gone.
//! The format is specified in `docs/audit-log.md`.

use std::io::{BufRead, BufReader, Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use crate::{AuditError, AuditEvent, Hash, SignedTreeHead, StoredEvent, Verifier, VerifyReport, VerifyingKey};

/// The tag in every archive's header; a new layout gets a new tag.
pub const ARCHIVE_FORMAT: &str = "shuyu-audit-archive-v1";

/// The first line of an archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveHeader {
    pub format: String,
    /// The first event's sequence number.
    pub first: u64,
    /// One past the last event's sequence number; equal to `tree_head`'s size.
    pub end: u64,
    /// The signed tree head over events `0..end`.
    pub tree_head: SignedTreeHead,
}

/// One event line.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    event: AuditEvent,
    leaf_hash: Hash,
}

/// The file name of the archive of `[first, end)`, sortable by position in the log.
pub fn archive_file_name(first: u64, end: u64) -> String {
    format!("audit-{first:012}-{end:012}.jsonl.gz")
}

fn archive_error(what: impl std::fmt::Display) -> AuditError {
    AuditError::Archive(what.to_string())
}

/// Writes one archive: [`ArchiveWriter::new`] with the header, [`push`](Self::push) every event
/// of the range in order, then [`finish`](Self::finish), which refuses an incomplete range.
pub struct ArchiveWriter<W: Write> {
    out: GzEncoder<W>,
    header: ArchiveHeader,
    next: u64,
}

impl<W: Write> std::fmt::Debug for ArchiveWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter").field("header", &self.header).field("next", &self.next).finish()
    }
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(out: W, first: u64, tree_head: SignedTreeHead) -> Result<Self, AuditError> {
        let end = tree_head.head.size;
        if first >= end {
            return Err(archive_error(format!("an archive needs events: first {first}, end {end}")));
        }
        let header = ArchiveHeader { format: ARCHIVE_FORMAT.into(), first, end, tree_head };
        let mut out = GzEncoder::new(out, Compression::default());
        serde_json::to_writer(&mut out, &header).map_err(archive_error)?;
        out.write_all(b"\n").map_err(archive_error)?;
        Ok(Self { out, header, next: first })
    }

    /// Appends the next event; events must come in sequence order without gaps.
    pub fn push(&mut self, stored: &StoredEvent) -> Result<(), AuditError> {
        let seq = stored.event.seq;
        if seq != self.next || seq >= self.header.end {
            return Err(archive_error(format!("event {seq} does not belong at position {} of the archive", self.next)));
        }
        let line = Line { event: stored.event.clone(), leaf_hash: stored.leaf_hash };
        serde_json::to_writer(&mut self.out, &line).map_err(archive_error)?;
        self.out.write_all(b"\n").map_err(archive_error)?;
        self.next += 1;
        Ok(())
    }

    /// Ends the compressed stream and returns the writer.
    pub fn finish(self) -> Result<W, AuditError> {
        if self.next != self.header.end {
            return Err(archive_error(format!(
                "the archive stops at event {} but its range ends at {}",
                self.next, self.header.end
            )));
        }
        self.out.finish().map_err(archive_error)
    }
}

/// Reads an archive: the header first, then the events one by one.
pub struct ArchiveReader<R: Read> {
    lines: std::io::Lines<BufReader<GzDecoder<R>>>,
    header: ArchiveHeader,
    next: u64,
}

impl<R: Read> std::fmt::Debug for ArchiveReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader").field("header", &self.header).field("next", &self.next).finish()
    }
}

impl<R: Read> ArchiveReader<R> {
    pub fn open(input: R) -> Result<Self, AuditError> {
        let mut lines = BufReader::new(GzDecoder::new(input)).lines();
        let first = lines
            .next()
            .ok_or_else(|| archive_error("the file is empty"))?
            .map_err(|e| archive_error(format!("not a gzip archive: {e}")))?;
        let header: ArchiveHeader =
            serde_json::from_str(&first).map_err(|e| archive_error(format!("the header does not parse: {e}")))?;
        if header.format != ARCHIVE_FORMAT {
            return Err(archive_error(format!("unknown archive format {:?}", header.format)));
        }
        if header.end != header.tree_head.head.size || header.first >= header.end {
            return Err(archive_error("the header's range does not end at its tree head"));
        }
        let next = header.first;
        Ok(Self { lines, header, next })
    }

    pub fn header(&self) -> &ArchiveHeader {
        &self.header
    }

    /// The next event with the leaf hash stored beside it (not yet checked against its
    /// contents: the [`Verifier`] does that), or `None` after the last one.
    pub fn next_event(&mut self) -> Result<Option<StoredEvent>, AuditError> {
        let Some(line) = self.lines.next() else {
            return if self.next == self.header.end {
                Ok(None)
            } else {
                Err(AuditError::EventsMissingAtEnd { from: self.next, expected: self.header.end })
            };
        };
        let line = line.map_err(|e| archive_error(format!("after event {}: {e}", self.next)))?;
        let parsed: Line = serde_json::from_str(&line).map_err(|_| {
            archive_error(format!("the line of event {} does not parse: the file was altered", self.next))
        })?;
        let seq = parsed.event.seq;
        if seq != self.next {
            return Err(if seq > self.next {
                AuditError::EventMissing { seq: self.next }
            } else {
                AuditError::EventOutOfOrder { seq, follows: self.next.saturating_sub(1) }
            });
        }
        if seq >= self.header.end {
            return Err(AuditError::EventInserted { seq, expected: self.header.end });
        }
        self.next += 1;
        Ok(Some(StoredEvent { event: parsed.event, leaf_hash: parsed.leaf_hash }))
    }
}

/// Verifies a chain of archives from event 0, in order, with nothing but the public key: every
/// event's contents against its leaf hash, and the tree at each archive's end against the
/// signed tree head in its header. `each(event)` sees every checked event (e.g. to compare
/// with the leaf hashes the database kept).
pub fn verify_chain<R: Read>(
    key: &VerifyingKey,
    archives: impl IntoIterator<Item = R>,
    mut each: impl FnMut(&StoredEvent) -> Result<(), AuditError>,
) -> Result<VerifyReport, AuditError> {
    let mut readers = Vec::new();
    for input in archives {
        readers.push(ArchiveReader::open(input)?);
    }
    let heads = readers.iter().map(|r| r.header.tree_head.clone()).collect();
    let mut verifier = Verifier::new(*key, heads, None);
    for mut reader in readers {
        if reader.header.first != verifier.size() {
            return Err(AuditError::EventMissing { seq: verifier.size() });
        }
        while let Some(stored) = reader.next_event()? {
            verifier.push(&stored)?;
            each(&stored)?;
        }
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{leaf_hash, MerkleTree, Outcome, TreeHead, TreeSigner};
    use chrono::{DateTime, Duration, Utc};

    fn stored(seq: u64) -> StoredEvent {
        let start = DateTime::parse_from_rfc3339("2023-03-01T09:00:00Z").unwrap().with_timezone(&Utc);
        let event = AuditEvent {
            seq,
            time: start + Duration::milliseconds(seq as i64 * 1500),
            actor: format!("user:{}", seq % 3),
            organisation: "org:1".into(),
            action: "dataset.read".into(),
            resource: format!("dataset:{seq}"),
            outcome: Outcome::Success,
            request_id: format!("req-{seq}"),
            client_addr: "127.0.0.1".into(),
            details: serde_json::json!({ "rows": seq, "note": "数据 \"quoted\"", "ratio": 0.1 + seq as f64 }),
        };
        let leaf_hash = leaf_hash(&event.canonical_bytes());
        StoredEvent { event, leaf_hash }
    }

    /// Archives of `[0, 4)` and `[4, 10)`, each ending at a signed tree head.
    fn two_archives(signer: &TreeSigner) -> Vec<Vec<u8>> {
        let events: Vec<StoredEvent> = (0..10).map(stored).collect();
        let tree = MerkleTree::from_leaves(events.iter().map(|e| e.leaf_hash));
        let head = |size: u64| {
            signer.sign(&TreeHead { size, root: tree.root_at(size).unwrap(), timestamp: events[0].event.time })
        };
        let mut out = Vec::new();
        for (first, end) in [(0u64, 4u64), (4, 10)] {
            let mut w = ArchiveWriter::new(Vec::new(), first, head(end)).unwrap();
            for e in &events[first as usize..end as usize] {
                w.push(e).unwrap();
            }
            out.push(w.finish().unwrap());
        }
        out
    }

    fn decompress(bytes: &[u8]) -> String {
        let mut s = String::new();
        GzDecoder::new(bytes).read_to_string(&mut s).unwrap();
        s
    }

    fn recompress(text: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_chain_of_archives_verifies_with_the_public_key_alone() {
        let signer = TreeSigner::generate();
        let files = two_archives(&signer);
        let mut seen = Vec::new();
        let report = verify_chain(&signer.verifying_key(), files.iter().map(|f| f.as_slice()), |e| {
            seen.push(e.event.seq);
            Ok(())
        })
        .unwrap();
        assert_eq!(report.events, 10);
        assert_eq!(report.tree_heads_checked, 2);
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        // Compressed: far smaller than the text.
        assert!(files[1].len() < decompress(&files[1]).len());
    }

    #[test]
    fn an_altered_dropped_or_missing_event_is_named() {
        let signer = TreeSigner::generate();
        let key = signer.verifying_key();
        let files = two_archives(&signer);
        let text = decompress(&files[1]);

        let altered = recompress(&text.replace("dataset:6", "dataset:66"));
        let err = verify_chain(&key, [files[0].as_slice(), altered.as_slice()], |_| Ok(())).unwrap_err();
        assert_eq!(err, AuditError::EventAltered { seq: 6 });

        // The event and its leaf hash rewritten together: the signed tree head catches it.
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut forged = stored(7);
        forged.event.actor = "user:nobody".into();
        forged.leaf_hash = forged.event.leaf_hash();
        lines[4] = serde_json::to_string(&Line { event: forged.event, leaf_hash: forged.leaf_hash }).unwrap();
        let rewritten = recompress(&(lines.join("\n") + "\n"));
        let err = verify_chain(&key, [files[0].as_slice(), rewritten.as_slice()], |_| Ok(())).unwrap_err();
        assert!(matches!(err, AuditError::TreeHeadMismatch { size: 10, from: 4 }), "{err}");

        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(3); // event 6
        let dropped = recompress(&(lines.join("\n") + "\n"));
        let err = verify_chain(&key, [files[0].as_slice(), dropped.as_slice()], |_| Ok(())).unwrap_err();
        assert_eq!(err, AuditError::EventMissing { seq: 6 });

        // The first archive lost: the second cannot stand alone.
        let err = verify_chain(&key, [files[1].as_slice()], |_| Ok(())).unwrap_err();
        assert_eq!(err, AuditError::EventMissing { seq: 0 });

        // Cut short.
        let lines: Vec<&str> = text.lines().collect();
        let short = recompress(&(lines[..lines.len() - 1].join("\n") + "\n"));
        let err = verify_chain(&key, [files[0].as_slice(), short.as_slice()], |_| Ok(())).unwrap_err();
        assert_eq!(err, AuditError::EventsMissingAtEnd { from: 9, expected: 10 });

        // Signed by someone else.
        let other = TreeSigner::generate();
        assert!(verify_chain(&other.verifying_key(), files.iter().map(|f| f.as_slice()), |_| Ok(())).is_err());

        assert!(matches!(ArchiveReader::open(&b"not gzip"[..]), Err(AuditError::Archive(_))));
    }

    #[test]
    fn the_writer_refuses_a_gap_or_a_short_range() {
        let signer = TreeSigner::generate();
        let head = signer.sign(&TreeHead { size: 3, root: crate::empty_root(), timestamp: Utc::now() });
        let mut w = ArchiveWriter::new(Vec::new(), 0, head.clone()).unwrap();
        assert!(w.push(&stored(1)).is_err());
        w.push(&stored(0)).unwrap();
        assert!(w.finish().is_err());
        assert!(ArchiveWriter::new(Vec::new(), 3, head).is_err());
        assert_eq!(archive_file_name(0, 1024), "audit-000000000000-000000001024.jsonl.gz");
    }
}
