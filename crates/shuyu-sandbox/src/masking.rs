//! Masking by PII type (SPEC §4.3, JS §13), applied where a governed table is read so that
//! filters, joins and functions only ever see masked values.
//!
//! Formats (the documented contract, checked by tests):
//! - name: the surname kept, each other character a star: 张三 → 张*, 欧阳娜娜 → 欧阳**
//! - mobile: first three and last four digits: 138****5678
//! - resident ID: region (six) and last four: 110101********1234
//! - bank card: last four only, the rest stars: ************1234
//! - address: up to the district or county: 北京市朝阳区建国路88号 → 北京市朝阳区
//! - date (date of birth and any masked date): the year: 1990-05-17 → 1990
//! - plate: province and authority letter, last two: 京A***45
//! - e-mail: first character and the domain: z***@example.cn
//! - anything else: first and last character
//!
//! The keyed hash (`hashed` mode) replaces a value with HMAC-SHA256 under the workspace's key,
//! truncated to 96 bits and hex-encoded: equal values give equal tokens inside one workspace,
//! so masked keys still join there, while tokens from two workspaces never match.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use shuyu_core::catalogue::PiiType;
use shuyu_core::classification::COMPOUND_SURNAMES;
use shuyu_core::validators::mask_middle_into;

/// How a masked column's values are rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaskKind {
    Name,
    Mobile,
    ResidentId,
    BankCard,
    Address,
    Year,
    Plate,
    Email,
    Generic,
}

impl MaskKind {
    /// The mask for a field's PII type; a date column without a PII type is cut to its year.
    pub fn for_field(pii: Option<PiiType>, is_date: bool) -> MaskKind {
        match pii {
            Some(PiiType::Name) => MaskKind::Name,
            Some(PiiType::Mobile) => MaskKind::Mobile,
            Some(PiiType::ResidentId) => MaskKind::ResidentId,
            Some(PiiType::BankCard) => MaskKind::BankCard,
            Some(PiiType::Address) | Some(PiiType::Location) => MaskKind::Address,
            Some(PiiType::Plate) => MaskKind::Plate,
            Some(PiiType::Email) => MaskKind::Email,
            _ if is_date => MaskKind::Year,
            _ => MaskKind::Generic,
        }
    }

    const ALL: [MaskKind; 9] = [
        MaskKind::Name,
        MaskKind::Mobile,
        MaskKind::ResidentId,
        MaskKind::BankCard,
        MaskKind::Address,
        MaskKind::Year,
        MaskKind::Plate,
        MaskKind::Email,
        MaskKind::Generic,
    ];

    /// The mask whose function is called `name`.
    pub fn from_name(name: &str) -> Option<MaskKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            MaskKind::Name => "mask_name",
            MaskKind::Mobile => "mask_mobile",
            MaskKind::ResidentId => "mask_resident_id",
            MaskKind::BankCard => "mask_bank_card",
            MaskKind::Address => "mask_address",
            MaskKind::Year => "mask_year",
            MaskKind::Plate => "mask_plate",
            MaskKind::Email => "mask_email",
            MaskKind::Generic => "mask_generic",
        }
    }

    /// The masked form of one value.
    pub fn apply(self, v: &str) -> String {
        let mut out = String::with_capacity(v.len());
        self.apply_into(v, &mut out);
        out
    }

    /// Appends the masked form of `v` to `out`: the UDF reuses one buffer for a whole batch.
    pub fn apply_into(self, v: &str, out: &mut String) {
        match self {
            MaskKind::Name => {
                let keep = if COMPOUND_SURNAMES.iter().any(|s| v.starts_with(s)) && v.chars().nth(2).is_some() {
                    2
                } else {
                    1
                };
                mask_middle_into(v, keep, 0, out)
            }
            MaskKind::Mobile => mask_middle_into(v, 3, 4, out),
            MaskKind::ResidentId => mask_middle_into(v, 6, 4, out),
            MaskKind::BankCard => mask_middle_into(v, 0, 4, out),
            MaskKind::Address => out.push_str(address_to_district(v)),
            MaskKind::Year => out.extend(v.chars().take(4)),
            MaskKind::Plate if v.contains('·') => mask_middle_into(&v.replace('·', ""), 2, 2, out),
            MaskKind::Plate => mask_middle_into(v, 2, 2, out),
            MaskKind::Email => match v.split_once('@') {
                Some((user, domain)) => {
                    out.extend(user.chars().take(1));
                    out.push_str("***@");
                    out.push_str(domain);
                }
                None => mask_middle_into(v, 1, 1, out),
            },
            MaskKind::Generic => mask_middle_into(v, 1, 1, out),
        }
    }
}

/// The prefix of an address up to its district-level unit (区, 县, 旗, or a county-level 市 after
/// a prefecture); without one, its first six characters.
fn address_to_district(v: &str) -> &str {
    // Skip a province or autonomous region so that its 区 or 市 is not taken for the district.
    let start = ["自治区", "省"].iter().find_map(|p| v.find(p).map(|at| at + p.len())).unwrap_or(0);
    let rest = &v[start..];
    if let Some(at) = rest.find(['区', '县', '旗']) {
        return &v[..start + at + rest[at..].chars().next().map_or(0, char::len_utf8)];
    }
    let mut cities = rest.match_indices('市').map(|(at, _)| at);
    let first = cities.next();
    match cities.next().or(first) {
        Some(at) => &v[..start + at + '市'.len_utf8()],
        None => v.char_indices().nth(6).map_or(v, |(at, _)| &v[..at]),
    }
}

/// A masking function as a DataFusion UDF. It is never registered by name in a workspace
/// session, so a query cannot call it; it appears only inside a governed table's own plan.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MaskUdf {
    kind: MaskKind,
    signature: Signature,
}

impl MaskUdf {
    pub fn udf(kind: MaskKind) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::from(MaskUdf { kind, signature: Signature::any(1, Volatility::Immutable) }))
    }
}

/// Rewrites every value of `arg` with `f`, reading string columns in whichever layout the
/// Parquet reader produced and casting anything else to text, so one mask serves every column type.
fn map_strings(arg: &ColumnarValue, rows: usize, f: impl Fn(&str, &mut String)) -> DfResult<ArrayRef> {
    let array = arg.to_array(rows)?;
    let mut out = StringBuilder::with_capacity(array.len(), array.get_buffer_memory_size());
    let mut buf = String::new();
    let mut one = |v: Option<&str>| match v {
        Some(v) => {
            buf.clear();
            f(v, &mut buf);
            out.append_value(&buf);
        }
        None => out.append_null(),
    };
    match array.data_type() {
        DataType::Utf8View => array.as_string_view().iter().for_each(&mut one),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().for_each(&mut one),
        DataType::Utf8 => array.as_string::<i32>().iter().for_each(&mut one),
        _ => cast(&array, &DataType::Utf8)?.as_string::<i32>().iter().for_each(&mut one),
    }
    Ok(Arc::new(out.finish()))
}

impl ScalarUDFImpl for MaskUdf {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let kind = self.kind;
        Ok(ColumnarValue::Array(map_strings(arg, args.number_rows, |v, out| kind.apply_into(v, out))?))
    }
}

/// The keyed hash of one value under a workspace key.
pub fn keyed_hash(key: &[u8; 32], value: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail for 32 bytes.
    keyed_mac(key).map(|mac| token(mac, value)).unwrap_or_default()
}

fn keyed_mac(key: &[u8; 32]) -> Option<Hmac<Sha256>> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).ok()
}

/// The token for `value` from a MAC already keyed (cloned per value, so the key is set up once).
fn token(mut mac: Hmac<Sha256>, value: &str) -> String {
    mac.update(value.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..12])
}

/// `hashed` mode as a UDF carrying the workspace key.
#[derive(PartialEq, Eq, Hash)]
pub struct KeyedHashUdf {
    key: [u8; 32],
    signature: Signature,
}

/// Plans are logged (by DataFusion and by a Ballista scheduler) with their functions: the key
/// must not be in what they print.
impl std::fmt::Debug for KeyedHashUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedHashUdf").field("key", &"<redacted>").finish()
    }
}

impl KeyedHashUdf {
    pub const NAME: &'static str = "mask_keyed_hash";

    pub fn udf(key: [u8; 32]) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::from(KeyedHashUdf { key, signature: Signature::any(1, Volatility::Immutable) }))
    }

    /// The workspace key, for the plan sent to a cluster (see `distributed`).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

impl ScalarUDFImpl for KeyedHashUdf {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("mask_keyed_hash takes one argument");
        };
        let Some(keyed) = keyed_mac(&self.key) else {
            return exec_err!("mask_keyed_hash: bad key");
        };
        Ok(ColumnarValue::Array(map_strings(arg, args.number_rows, |v, out| out.push_str(&token(keyed.clone(), v)))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_formats() {
        assert_eq!(MaskKind::Name.apply("张三"), "张*");
        assert_eq!(MaskKind::Name.apply("张三丰"), "张**");
        assert_eq!(MaskKind::Name.apply("欧阳娜娜"), "欧阳**");
        assert_eq!(MaskKind::Mobile.apply("13812345678"), "138****5678");
        assert_eq!(MaskKind::ResidentId.apply("110101199003071234"), "110101********1234");
        assert_eq!(MaskKind::BankCard.apply("6222021234567890123"), "***************0123");
        assert_eq!(MaskKind::Address.apply("北京市朝阳区建国路88号"), "北京市朝阳区");
        assert_eq!(MaskKind::Address.apply("江苏省无锡市梁溪区中山路1号"), "江苏省无锡市梁溪区");
        assert_eq!(MaskKind::Address.apply("江苏省江阴市澄江街道人民路2号"), "江苏省江阴市");
        assert_eq!(MaskKind::Address.apply("广西壮族自治区南宁市青秀区民族大道1号"), "广西壮族自治区南宁市青秀区");
        assert_eq!(MaskKind::Year.apply("1990-05-17"), "1990");
        assert_eq!(MaskKind::Plate.apply("京A·12345"), "京A***45");
        assert_eq!(MaskKind::Email.apply("zhang@example.cn"), "z***@example.cn");
    }

    #[test]
    fn keyed_hash_depends_on_the_key() {
        let a = keyed_hash(&[1; 32], "110101199003071234");
        assert_eq!(a, keyed_hash(&[1; 32], "110101199003071234"));
        assert_ne!(a, keyed_hash(&[2; 32], "110101199003071234"));
        assert_eq!(a.len(), 24);
    }
}
