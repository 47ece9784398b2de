//! The crate's one error type. The verifier's variants are meant to be shown to an auditor as
//! they are, so each names the first bad event or tree head.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("not a SHA-256 digest in hex (64 hex digits)")]
    InvalidHash,
    #[error("unknown outcome {0:?} (expected success, denied or failure)")]
    InvalidOutcome(String),
    #[error("leaf index {index} is not inside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {requested} is larger than the log ({available} leaves)")]
    SizeOutOfRange { requested: u64, available: u64 },
    #[error("a consistency proof needs 0 < first <= second, got first {first}, second {second}")]
    ConsistencyRange { first: u64, second: u64 },
    #[error("proof does not verify: {0}")]
    ProofInvalid(&'static str),
    #[error("key: {0}")]
    Key(String),
    #[error("signature is not a base64 Ed25519 signature (64 bytes)")]
    SignatureFormat,
    #[error("timestamp {0:?} is not an RFC 3339 instant")]
    TimestampFormat(String),
    /// An archive file that cannot be read as one (archive.rs).
    #[error("archive: {0}")]
    Archive(String),
    /// An invariant of the in-memory tree was broken; a bug, never caused by input.
    #[error("internal error in the audit tree: {0}")]
    Internal(&'static str),

    // What the offline verifier reports.
    #[error("event {seq} is missing (deleted)")]
    EventMissing { seq: u64 },
    #[error("event {seq} is out of order ({})", order_note(*.seq, *.follows))]
    EventOutOfOrder { seq: u64, follows: u64 },
    #[error("event {seq} was altered (its contents no longer match its stored leaf hash)")]
    EventAltered { seq: u64 },
    #[error("{} missing (deleted from the end; the log should hold {expected} events)", tail_note(*.from, *.expected))]
    EventsMissingAtEnd { from: u64, expected: u64 },
    #[error("event {seq} was inserted beyond the log's head ({expected} events)")]
    EventInserted { seq: u64, expected: u64 },
    #[error("tree head at size {size} has a bad signature")]
    TreeHeadSignature { size: u64 },
    /// `from` is the size of the last tree head that matched: events before it are intact.
    #[error("tree head at size {size} does not match the events; an event from {from} to {} was altered", .size.saturating_sub(1))]
    TreeHeadMismatch { size: u64, from: u64 },
}

fn order_note(seq: u64, follows: u64) -> String {
    if seq == follows {
        format!("event {seq} appears twice")
    } else {
        format!("it comes after event {follows}")
    }
}

fn tail_note(from: u64, expected: u64) -> String {
    let last = expected.saturating_sub(1);
    if last <= from {
        format!("event {from} is")
    } else {
        format!("events {from} to {last} are")
    }
}
