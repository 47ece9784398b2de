//! The audit event and its canonical bytes, which are what the Merkle leaf commits to. The
//! encoding is defined here once and documented in `docs/audit-log.md`; it must never change
//! without a new tag.

use std::fmt;
use std::io::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{AuditError, Hash};

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Outcome::Success),
            "denied" => Ok(Outcome::Denied),
            "failure" => Ok(Outcome::Failure),
            // Bounded so a hostile value cannot blow up an error message.
            other => Err(AuditError::InvalidOutcome(other.chars().take(32).collect())),
        }
    }
}

/// One state change or data access: who, in which organisation, did what to what, with what
/// result, when, over which request and from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// 0-based position in the log, which is also the Merkle leaf index.
    pub seq: u64,
    /// Only milliseconds are committed to (the encoding truncates finer digits).
    pub time: DateTime<Utc>,
    /// A user id, `system` or `anonymous`.
    pub actor: String,
    /// An organisation id, or empty.
    pub organisation: String,
    /// e.g. `user.login`, `registration.accept`.
    pub action: String,
    /// e.g. `user:0191…`.
    pub resource: String,
    pub outcome: Outcome,
    pub request_id: String,
    pub client_addr: String,
    /// A JSON object, or `null`.
    pub details: Value,
}

/// A row as the store keeps it: the event and the leaf hash written with it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event: AuditEvent,
    pub leaf_hash: Hash,
}

/// Version tag opening every encoded event; a new encoding gets a new tag.
pub const EVENT_TAG: &[u8] = b"shuyu-audit-event-v1";

/// The time layout: RFC 3339, UTC, exactly three fractional digits (truncated), `Z`.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

impl AuditEvent {
    /// The canonical encoding (see `docs/audit-log.md`):
    ///
    /// `"shuyu-audit-event-v1" ‖ seq as u64 BE ‖` then, for time, actor, organisation, action,
    /// resource, outcome, request_id, client_addr and details in that order, a u32 BE byte
    /// length followed by the UTF-8 bytes. Time is `YYYY-MM-DDTHH:MM:SS.mmmZ`; details are
    /// compact JSON with every object's keys sorted by code point.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_canonical(&mut out);
        out
    }

    /// Appends the canonical encoding to `out`, so a caller hashing many events can reuse one
    /// buffer.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(EVENT_TAG);
        out.extend_from_slice(&self.seq.to_be_bytes());
        length_prefixed(out, |out| {
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{}", self.time.format(TIME_FORMAT));
        });
        for field in [&self.actor, &self.organisation, &self.action, &self.resource] {
            length_prefixed(out, |out| out.extend_from_slice(field.as_bytes()));
        }
        length_prefixed(out, |out| out.extend_from_slice(self.outcome.as_str().as_bytes()));
        length_prefixed(out, |out| out.extend_from_slice(self.request_id.as_bytes()));
        length_prefixed(out, |out| out.extend_from_slice(self.client_addr.as_bytes()));
        length_prefixed(out, |out| write_canonical_json(out, &self.details));
    }

    /// The RFC 6962 leaf hash of the canonical bytes.
    pub fn leaf_hash(&self) -> Hash {
        crate::leaf_hash(&self.canonical_bytes())
    }
}

/// Writes a field through `write`, preceded by its length as u32 BE.
fn length_prefixed(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out);
    let written = out.len().saturating_sub(at + 4);
    // A field of 4 GiB cannot come from a database row; saturate instead of panicking.
    let len = u32::try_from(written).unwrap_or(u32::MAX).to_be_bytes();
    if let Some(slot) = out.get_mut(at..at + 4) {
        for (dst, src) in slot.iter_mut().zip(len) {
            *dst = src;
        }
    }
}

/// Compact JSON with object keys sorted by code point, at every depth.
///
/// Sorting is done here rather than left to `serde_json::Map`: another crate in the build
/// (cedar-policy) turns on serde_json's `preserve_order`, which makes maps keep insertion
/// order, and the encoding must not depend on which crates are linked.
pub fn write_canonical_json(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // serde_json's own number output (itoa for integers, ryu's shortest form for floats).
        Value::Number(n) => {
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_json(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    // Byte order of UTF-8 equals code-point order; keys in a map are unique.
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, key);
        out.push(b':');
        write_canonical_json(out, value);
    }
    out.push(b'}');
}

/// A JSON string exactly as serde_json writes one: `"` and `\` escaped with a backslash,
/// U+0008, U+0009, U+000A, U+000C, U+000D as `\b \t \n \f \r`, other control characters
/// below U+0020 as `\u00xx` (lowercase hex); everything else as raw UTF-8.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Copy runs of plain bytes at once; only ASCII bytes are ever escaped, so every cut falls
    // on a character boundary.
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            0x09 => Some(b"\\t"),
            0x0a => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            0x0d => Some(b"\\r"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        match short {
            Some(escape) => out.extend_from_slice(escape),
            None => {
                let hex = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b & 0x0f)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    pub(crate) fn sample(seq: u64) -> AuditEvent {
        AuditEvent {
            seq,
            // 08:30:00.123456 in Beijing: the encoding must show UTC and cut to milliseconds.
            time: DateTime::parse_from_rfc3339("2026-01-05T08:30:00.123456+08:00").unwrap().with_timezone(&Utc),
            actor: "user:0191a2b3".into(),
            organisation: "org:7".into(),
            action: "registration.accept".into(),
            resource: "registration:9".into(),
            outcome: Outcome::Success,
            request_id: "req-1".into(),
            client_addr: "10.0.0.1".into(),
            // Inserted out of order on purpose, with nesting, an array, a null and Chinese text.
            details: json!({"zeta": 1, "alpha": {"y": null, "x": [true, "无锡\n"]}, "b": -2.5}),
        }
    }

    /// The full encoding of `sample(7)`, written out by hand from the documented format (and
    /// cross-checked with an independent Python implementation).
    const GOLDEN_BYTES: &str = concat!(
        "73687579752d61756469742d6576656e742d7631", // "shuyu-audit-event-v1"
        "0000000000000007",                         // seq 7
        "00000018", "323032362d30312d30355430303a33303a30302e3132335a", // 2026-01-05T00:30:00.123Z
        "0000000d", "757365723a3031393161326233", // user:0191a2b3
        "00000005", "6f72673a37",                 // org:7
        "00000013", "726567697374726174696f6e2e616363657074", // registration.accept
        "0000000e", "726567697374726174696f6e3a39", // registration:9
        "00000007", "73756363657373",             // success
        "00000005", "7265712d31",                 // req-1
        "00000008", "31302e302e302e31",           // 10.0.0.1
        // {"alpha":{"x":[true,"无锡\n"],"y":null},"b":-2.5,"zeta":1}
        "0000003c",
        "7b22616c706861223a7b2278223a5b747275652c22e697a0e994a15c6e225d2c2279223a6e756c6c7d2c2262223a2d322e352c227a657461223a317d",
    );
    const GOLDEN_LEAF: &str = "a19b42bb70064fd560718a63b9fb81d481e130dae0be20634557886869d7a219";

    #[test]
    fn canonical_bytes_match_the_golden_vector() {
        let event = sample(7);
        assert_eq!(hex::encode(event.canonical_bytes()), GOLDEN_BYTES);
        assert_eq!(event.leaf_hash().to_string(), GOLDEN_LEAF);
    }

    #[test]
    fn null_details_and_empty_fields() {
        let mut e = sample(0);
        e.details = Value::Null;
        e.organisation.clear();
        let bytes = e.canonical_bytes();
        assert!(bytes.ends_with(b"\x00\x00\x00\x04null"));
        // An empty field is just a zero length: actor, then nothing, then the action.
        let expected =
            [&b"\x00\x00\x00\x0duser:0191a2b3"[..], b"\x00\x00\x00\x00", b"\x00\x00\x00\x13registration.accept"]
                .concat();
        assert!(bytes.windows(expected.len()).any(|w| w == expected.as_slice()));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = sample(1).leaf_hash();
        let edits: [fn(&mut AuditEvent); 10] = [
            |e| e.seq = 2,
            |e| e.time += chrono::Duration::milliseconds(1),
            |e| e.actor.push('x'),
            |e| e.organisation.push('x'),
            |e| e.action.push('x'),
            |e| e.resource.push('x'),
            |e| e.outcome = Outcome::Denied,
            |e| e.request_id.push('x'),
            |e| e.client_addr.push('x'),
            |e| e.details = json!({"zeta": 2}),
        ];
        for edit in edits {
            let mut e = sample(1);
            edit(&mut e);
            assert_ne!(e.leaf_hash(), base);
        }
        // Sub-millisecond differences are not committed to.
        let mut e = sample(1);
        e.time += chrono::Duration::microseconds(100);
        assert_eq!(e.leaf_hash(), base);
    }

    #[test]
    fn length_prefixes_keep_adjacent_fields_apart() {
        let mut a = sample(1);
        a.actor = "ab".into();
        a.organisation = "c".into();
        let mut b = sample(1);
        b.actor = "a".into();
        b.organisation = "bc".into();
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn key_order_does_not_matter_at_any_depth() {
        let mut forward = Map::new();
        forward.insert("a".into(), json!(1));
        forward.insert("b".into(), json!({"c": 1, "d": 2}));
        let mut backward = Map::new();
        let mut inner = Map::new();
        inner.insert("d".into(), json!(2));
        inner.insert("c".into(), json!(1));
        backward.insert("b".into(), Value::Object(inner));
        backward.insert("a".into(), json!(1));
        let mut x = sample(3);
        x.details = Value::Object(forward);
        let mut y = sample(3);
        y.details = Value::Object(backward);
        assert_eq!(x.canonical_bytes(), y.canonical_bytes());
        let mut out = Vec::new();
        write_canonical_json(&mut out, &y.details);
        assert_eq!(out, br#"{"a":1,"b":{"c":1,"d":2}}"#);
    }

    #[test]
    fn json_escapes() {
        let mut out = Vec::new();
        write_canonical_json(&mut out, &json!("q\"b\\s/\u{1}\u{1f}\u{7f}\u{8}\u{c}\t\r\n é"));
        assert_eq!(String::from_utf8(out).unwrap(), "\"q\\\"b\\\\s/\\u0001\\u001f\u{7f}\\b\\f\\t\\r\\n é\"");
    }

    #[test]
    fn outcome_strings() {
        for o in [Outcome::Success, Outcome::Denied, Outcome::Failure] {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{o}\""));
        }
        assert!(matches!("ok".parse::<Outcome>(), Err(AuditError::InvalidOutcome(_))));
    }

    proptest! {
        // The hand-written string escaper agrees with serde_json's for any text.
        #[test]
        fn strings_are_written_as_serde_json_writes_them(s in any::<String>()) {
            let mut out = Vec::new();
            write_json_string(&mut out, &s);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
        }

        // Canonical JSON parses back to the same value, so nothing is lost or reordered.
        #[test]
        fn canonical_json_round_trips(keys in proptest::collection::vec("[a-z\u{4e00}-\u{4e10}]{0,4}", 0..6), n in any::<i64>(), f in -1e12f64..1e12) {
            let mut map = Map::new();
            for (i, k) in keys.iter().enumerate() {
                map.insert(k.clone(), if i % 2 == 0 { json!(n) } else { json!({"f": f, "k": k}) });
            }
            let value = Value::Object(map);
            let mut out = Vec::new();
            write_canonical_json(&mut out, &value);
            let back: Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(&back, &value);
        }
    }
}
