//! Chinese identifiers as parsed newtypes: holding a [`ResidentId`], [`Uscc`], [`Mobile`],
//! [`BankCard`] or [`Plate`] proves the value passed its standard's format and checksum rules,
//! and the stored form is normalised (upper case, no separators, no country prefix).
//!
//! None of these types implements `Display`, and `Debug` prints the masked form, so a full
//! identifier can only reach a log through an explicit `as_str()`. Masks follow DESIGN.md: a
//! value too short for a mask's kept prefix and suffix is masked whole.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::CoreError;

// --- Kinds and errors ------------------------------------------------------------------------

/// The identifier kinds Shuyu validates; the names are those `shuyu check KIND VALUE` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    ResidentId,
    Uscc,
    Mobile,
    BankCard,
    Plate,
}

impl IdentifierKind {
    pub const ALL: [IdentifierKind; 5] = [
        IdentifierKind::ResidentId,
        IdentifierKind::Uscc,
        IdentifierKind::Mobile,
        IdentifierKind::BankCard,
        IdentifierKind::Plate,
    ];

    /// The command-line name, e.g. `bank-card`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::ResidentId => "resident-id",
            IdentifierKind::Uscc => "uscc",
            IdentifierKind::Mobile => "mobile",
            IdentifierKind::BankCard => "bank-card",
            IdentifierKind::Plate => "plate",
        }
    }

    /// What the identifier is called in an English sentence.
    pub fn noun(self) -> &'static str {
        match self {
            IdentifierKind::ResidentId => "resident ID number",
            IdentifierKind::Uscc => "unified social credit code",
            IdentifierKind::Mobile => "mobile number",
            IdentifierKind::BankCard => "bank card number",
            IdentifierKind::Plate => "vehicle plate number",
        }
    }

    /// Checks `value` as this kind; the error says why it is not valid.
    pub fn check(self, value: &str) -> Result<(), ValidationError> {
        match self {
            IdentifierKind::ResidentId => ResidentId::parse(value).map(drop),
            IdentifierKind::Uscc => Uscc::parse(value).map(drop),
            IdentifierKind::Mobile => Mobile::parse(value).map(drop),
            IdentifierKind::BankCard => BankCard::parse(value).map(drop),
            IdentifierKind::Plate => Plate::parse(value).map(drop),
        }
    }

    /// The masked form of `value`: the kind's own mask when it is valid, all stars when it is
    /// not (an invalid value has no trustworthy structure to keep parts of).
    pub fn mask(self, value: &str) -> String {
        let masked = match self {
            IdentifierKind::ResidentId => ResidentId::parse(value).map(|v| v.masked()),
            IdentifierKind::Uscc => Uscc::parse(value).map(|v| v.masked()),
            IdentifierKind::Mobile => Mobile::parse(value).map(|v| v.masked()),
            IdentifierKind::BankCard => BankCard::parse(value).map(|v| v.masked()),
            IdentifierKind::Plate => Plate::parse(value).map(|v| v.masked()),
        };
        masked.unwrap_or_else(|_| mask_middle(value, 0, 0))
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdentifierKind {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdentifierKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| CoreError::UnknownName {
            kind: "identifier kind (resident-id, uscc, mobile, bank-card, plate)",
            value: s.chars().take(32).collect(),
        })
    }
}

/// Checks `value` as `kind`. The CLI prints `valid` or `invalid: <error>`.
pub fn check(kind: IdentifierKind, value: &str) -> Result<(), ValidationError> {
    kind.check(value)
}

/// Why a value is not a valid identifier. `Display` is a short English reason a data steward
/// can act on, e.g. `check character should be X, found 3`; it never repeats the whole value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    kind: IdentifierKind,
    reason: String,
}

impl ValidationError {
    fn new(kind: IdentifierKind, reason: impl Into<String>) -> Self {
        Self { kind, reason: reason.into() }
    }

    pub fn kind(&self) -> IdentifierKind {
        self.kind
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ValidationError {}

impl From<ValidationError> for CoreError {
    fn from(e: ValidationError) -> Self {
        CoreError::InvalidIdentifier { kind: e.kind.noun(), reason: e.reason }
    }
}

// --- Masking ---------------------------------------------------------------------------------

/// Keeps `keep_prefix` leading and `keep_suffix` trailing characters and replaces the rest
/// with `*`, one star per character. A value no longer than `keep_prefix + keep_suffix` is
/// masked whole (and the empty string becomes `*`), because keeping both ends of it would
/// reveal all of it.
pub fn mask_middle(value: &str, keep_prefix: usize, keep_suffix: usize) -> String {
    let mut out = String::with_capacity(value.len());
    mask_middle_into(value, keep_prefix, keep_suffix, &mut out);
    out
}

/// [`mask_middle`] appending to `out`, for callers masking many values into one buffer.
pub fn mask_middle_into(value: &str, keep_prefix: usize, keep_suffix: usize, out: &mut String) {
    let n = value.chars().count();
    if n <= keep_prefix.saturating_add(keep_suffix) {
        out.extend(std::iter::repeat_n('*', n.max(1)));
        return;
    }
    out.extend(value.chars().enumerate().map(|(i, c)| if i < keep_prefix || i >= n - keep_suffix { c } else { '*' }));
}

fn length_error(kind: IdentifierKind, found: usize, expected: &str) -> ValidationError {
    ValidationError::new(kind, format!("length is {found}, expected {expected}"))
}

/// Removes what people type between groups of characters: spaces (also full-width) and
/// hyphens.
fn strip_separators(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect()
}

macro_rules! identifier_traits {
    ($t:ident) => {
        /// Prints the masked form only, so an identifier in a `{:?}` cannot leak into a log.
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "({})"), self.masked())
            }
        }

        impl FromStr for $t {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $t::parse(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = ValidationError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                $t::parse(&s)
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.as_str().to_string()
            }
        }
    };
}

// --- Resident identity card number (GB 11643-1999) ---------------------------------------------

/// 居民身份证号码 (GB 11643-1999): a 6-digit region code, the 8-digit birth date, a 3-digit
/// sequence number and an ISO 7064 MOD 11-2 check character (0–9 or X).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResidentId {
    value: String,
    birth: NaiveDate,
}

/// First two digits accepted for the region code: the province-level codes of GB/T 2260
/// (11–15, 21–23, 31–37, 41–46, 50–54, 61–65), 71 Taiwan, 81 Hong Kong, 82 Macao, 83 (Taiwan
/// residents' residence permits) and 91, which the project accepts for numbers issued outside
/// the province scheme. Anything else is a typo or an invented number.
const PROVINCE_CODES: [u32; 36] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63,
    64, 65, 71, 81, 82, 83, 91,
];

/// Weight of position i (0-based from the left) is 2^(17 - i) mod 11.
const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The MOD 11-2 check character for 17 digits, or `None` if `body` is not 17 ASCII digits.
pub fn resident_id_check_char(body: &str) -> Option<char> {
    if body.len() != 17 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = body.bytes().zip(RESIDENT_ID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    // The check value makes the weighted sum including it ≡ 1 (mod 11); 10 is written X.
    match (12 - sum % 11) % 11 {
        10 => Some('X'),
        v => char::from_digit(v, 10),
    }
}

impl ResidentId {
    /// Accepts 18 characters, a lower-case `x` check character too; surrounding spaces are
    /// ignored.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        const KIND: IdentifierKind = IdentifierKind::ResidentId;
        let value = input.trim().to_ascii_uppercase();
        let chars: Vec<char> = value.chars().collect();
        if chars.len() != 18 {
            let hint = if chars.len() == 15 { " (15-digit first-generation numbers are not accepted)" } else { "" };
            return Err(ValidationError::new(KIND, format!("length is {}, expected 18{hint}", chars.len())));
        }
        if let Some((i, c)) = chars[..17].iter().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(ValidationError::new(
                KIND,
                format!("character {} is {c:?}, but the first 17 must be digits", i + 1),
            ));
        }
        let found = chars[17];
        if !(found.is_ascii_digit() || found == 'X') {
            return Err(ValidationError::new(KIND, format!("check character must be a digit or X, found {found:?}")));
        }
        // All 18 characters are ASCII from here on, so byte slicing is safe.
        let digit = |i: usize| u32::from(value.as_bytes()[i] - b'0');
        let province = digit(0) * 10 + digit(1);
        if !PROVINCE_CODES.contains(&province) {
            return Err(ValidationError::new(
                KIND,
                format!("region code {} does not start with a province code", &value[..6]),
            ));
        }
        let birth_text = &value[6..14];
        let number = |from: usize, to: usize| (from..to).fold(0u32, |n, i| n * 10 + digit(i));
        let year = number(6, 10);
        if !(1900..=2100).contains(&year) {
            return Err(ValidationError::new(KIND, format!("birth year {year} is outside 1900–2100")));
        }
        let birth = i32::try_from(year)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, number(10, 12), number(12, 14)))
            .ok_or_else(|| ValidationError::new(KIND, format!("birth date {birth_text} is not a real date")))?;
        let expected = resident_id_check_char(&value[..17])
            .ok_or_else(|| ValidationError::new(KIND, "the first 17 characters must be digits"))?;
        if found != expected {
            return Err(ValidationError::new(KIND, format!("check character should be {expected}, found {found}")));
        }
        Ok(Self { value, birth })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth
    }

    /// First 6 (region) and last 4 kept: `110105********002X`.
    pub fn masked(&self) -> String {
        mask_middle(&self.value, 6, 4)
    }
}

identifier_traits!(ResidentId);

// --- Unified social credit code (GB 32100-2015) -------------------------------------------------

/// 统一社会信用代码 (GB 32100-2015): registration-authority code, organisation-type code,
/// 6-digit region code, 9-character organisation code and a MOD 31 check character, all from
/// the 31 characters 0–9 and A–Z without I, O, S, V, Z.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uscc(String);

/// The code's alphabet; a character's value is its position here.
const USCC_CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weight of position i (0-based from the left) is 3^i mod 31, as GB 32100-2015 specifies.
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

fn uscc_value(c: char) -> Option<u32> {
    USCC_CHARSET.chars().position(|x| x == c).and_then(|i| u32::try_from(i).ok())
}

/// The MOD 31 check character for 17 characters, or `None` if `body` is not 17 characters of
/// the code's alphabet.
pub fn uscc_check_char(body: &str) -> Option<char> {
    let values: Vec<u32> = body.chars().map(uscc_value).collect::<Option<_>>()?;
    if values.len() != 17 {
        return None;
    }
    let sum: u32 = values.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    USCC_CHARSET.chars().nth(usize::try_from(check).ok()?)
}

impl Uscc {
    /// Accepts lower case too and stores upper case; surrounding spaces are ignored.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        const KIND: IdentifierKind = IdentifierKind::Uscc;
        let value = input.trim().to_ascii_uppercase();
        let chars: Vec<char> = value.chars().collect();
        if chars.len() != 18 {
            return Err(length_error(KIND, chars.len(), "18"));
        }
        if let Some((i, c)) = chars.iter().enumerate().find(|(_, c)| uscc_value(**c).is_none()) {
            return Err(ValidationError::new(
                KIND,
                format!(
                    "character {} is {c:?}; only digits and capital letters other than I, O, S, V, Z are used",
                    i + 1
                ),
            ));
        }
        if let Some((i, c)) = chars[2..8].iter().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(ValidationError::new(
                KIND,
                format!("character {} is {c:?}, but characters 3–8 are a region code of digits", i + 3),
            ));
        }
        let expected = uscc_check_char(&value[..17])
            .ok_or_else(|| ValidationError::new(KIND, "the first 17 characters are not from the code's alphabet"))?;
        let found = chars[17];
        if found != expected {
            return Err(ValidationError::new(KIND, format!("check character should be {expected}, found {found}")));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First 2 (authority and type) and last 4 kept: `91************0Y43`.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 2, 4)
    }
}

identifier_traits!(Uscc);

// --- Mainland mobile number -------------------------------------------------------------------

/// 手机号码: 11 digits, `1` then 3–9. Input may carry a `+86`, `0086` or `86` prefix and spaces
/// or hyphens; the stored form is the bare 11 digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mobile(String);

impl Mobile {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        const KIND: IdentifierKind = IdentifierKind::Mobile;
        let compact = strip_separators(input);
        let digits = if let Some(rest) = compact.strip_prefix("+86").or_else(|| compact.strip_prefix("0086")) {
            rest
        } else if compact.starts_with('+') {
            return Err(ValidationError::new(KIND, "only mainland numbers (+86) are accepted"));
        } else if compact.len() == 13 && compact.starts_with("86") {
            &compact[2..]
        } else {
            &compact
        };
        if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return Err(ValidationError::new(KIND, format!("{c:?} is not a digit")));
        }
        if digits.len() != 11 {
            return Err(length_error(KIND, digits.len(), "11 digits"));
        }
        if !digits.starts_with('1') || !matches!(digits.as_bytes()[1], b'3'..=b'9') {
            return Err(ValidationError::new(
                KIND,
                format!("a mainland mobile number starts with 13–19, found {}", &digits[..2]),
            ));
        }
        Ok(Self(digits.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First 3 and last 4 kept: `138****5678`.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 3, 4)
    }
}

identifier_traits!(Mobile);

// --- Bank card number (Luhn) ------------------------------------------------------------------

/// 银行卡号: 12–19 digits whose last digit is the Luhn check digit. Spaces and hyphens in the
/// input are ignored.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BankCard(String);

/// The Luhn check digit that completes `body`, or `None` if `body` has a non-digit.
pub fn luhn_check_digit(body: &str) -> Option<u32> {
    let mut sum = 0;
    // Counting from the right of the body, every first, third, … digit is doubled, because
    // the check digit will take the rightmost (undoubled) place.
    for (i, c) in body.chars().rev().enumerate() {
        let d = c.to_digit(10)?;
        sum += if i % 2 == 0 {
            let twice = d * 2;
            if twice > 9 {
                twice - 9
            } else {
                twice
            }
        } else {
            d
        };
    }
    Some((10 - sum % 10) % 10)
}

impl BankCard {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        const KIND: IdentifierKind = IdentifierKind::BankCard;
        let digits = strip_separators(input);
        if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return Err(ValidationError::new(KIND, format!("{c:?} is not a digit")));
        }
        if !(12..=19).contains(&digits.len()) {
            return Err(length_error(KIND, digits.len(), "12 to 19 digits"));
        }
        let (body, last) = digits.split_at(digits.len() - 1);
        let expected = luhn_check_digit(body).ok_or_else(|| ValidationError::new(KIND, "only digits are allowed"))?;
        if last.chars().next().and_then(|c| c.to_digit(10)) != Some(expected) {
            return Err(ValidationError::new(KIND, format!("Luhn check digit should be {expected}, found {last}")));
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First 6 (issuer) and last 4 kept: `622202*********1234`.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 6, 4)
    }
}

identifier_traits!(BankCard);

// --- Motor vehicle plate (GA 36-2018) ---------------------------------------------------------

/// 机动车号牌: province abbreviation, issuing-authority letter, then a 5-character serial
/// (ordinary), a 6-character serial (new-energy), or a 4-character serial followed by
/// 挂/学/警/港/澳. Spaces, hyphens and the middle dot (`苏B·12345`) in the input are ignored;
/// letters are stored upper case.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Plate(String);

const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
const PLATE_SUFFIXES: &str = "挂学警港澳";
/// First serial letter of a small new-energy plate: D (battery electric) and F (other
/// new-energy) per GA 36-2018, plus A–C, E and G–K, which some cities issue once their D/F
/// series run out.
const NEW_ENERGY_SMALL_LETTERS: &str = "DFABCEGHJK";

/// Plates use digits and capital letters except I and O (confusable with 1 and 0).
fn plate_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

impl Plate {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        const KIND: IdentifierKind = IdentifierKind::Plate;
        let value: String = strip_separators(input)
            .chars()
            .filter(|c| !matches!(c, '·' | '•' | '.'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let chars: Vec<char> = value.chars().collect();
        if !(7..=8).contains(&chars.len()) {
            return Err(length_error(KIND, chars.len(), "7 characters (8 for new-energy vehicles)"));
        }
        let (province, authority) = (chars[0], chars[1]);
        if !PLATE_PROVINCES.contains(province) {
            return Err(ValidationError::new(
                KIND,
                format!("the first character must be a province abbreviation such as 京 or 苏, found {province:?}"),
            ));
        }
        if !(authority.is_ascii_uppercase() && plate_char(authority)) {
            return Err(ValidationError::new(
                KIND,
                format!("the second character must be a letter A–Z other than I and O, found {authority:?}"),
            ));
        }
        let rest = &chars[2..];
        let serial = match rest.split_last() {
            Some((suffix, serial)) if PLATE_SUFFIXES.contains(*suffix) => {
                if serial.len() != 4 {
                    return Err(ValidationError::new(
                        KIND,
                        format!("a plate ending in {suffix} has 4 characters before it"),
                    ));
                }
                if matches!(suffix, '港' | '澳') && (province, authority) != ('粤', 'Z') {
                    return Err(ValidationError::new(KIND, format!("only 粤Z plates end in {suffix}")));
                }
                serial
            }
            _ => rest,
        };
        if let Some(c) = serial.iter().find(|c| !plate_char(**c)) {
            return Err(ValidationError::new(
                KIND,
                format!("{c:?} is not allowed in a plate serial (digits and letters other than I and O)"),
            ));
        }
        if serial.len() == 6 {
            let small = NEW_ENERGY_SMALL_LETTERS.contains(serial[0]) && serial[2..].iter().all(char::is_ascii_digit);
            let large = serial[..5].iter().all(char::is_ascii_digit) && matches!(serial[5], 'D' | 'F');
            if !(small || large) {
                return Err(ValidationError::new(
                    KIND,
                    "a new-energy serial is D or F, a letter or digit and 4 digits, or 5 digits and D or F",
                ));
            }
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Province, authority letter and the last 2 kept: `苏B***45`.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 2, 2)
    }
}

identifier_traits!(Plate);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Reference implementations written from the standards' text, independently of the code
    // above (different formulation, no shared tables), so a shared mistake is unlikely.

    /// GB 11643 / ISO 7064 MOD 11-2: Σ aᵢ·Wᵢ ≡ 1 (mod 11) over all 18 positions, where the
    /// weight of position i counted from the right starting at 1 is 2^(i-1) mod 11.
    fn ref_resident_check(body: &str) -> char {
        for candidate in "0123456789X".chars() {
            let full = format!("{body}{candidate}");
            let mut total = 0u64;
            for (i, c) in full.chars().rev().enumerate() {
                let a = if c == 'X' { 10 } else { u64::from(c.to_digit(10).unwrap()) };
                total += a * (2u64.pow(i as u32) % 11);
            }
            if total % 11 == 1 {
                return candidate;
            }
        }
        unreachable!("MOD 11-2 always has a check character")
    }

    const REF_USCC_ALPHABET: [char; 31] = [
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M',
        'N', 'P', 'Q', 'R', 'T', 'U', 'W', 'X', 'Y',
    ];

    /// GB 32100: C18 = 31 − (Σ Cᵢ·Wᵢ mod 31), Wᵢ = 3^(i-1) mod 31, 31 written as 0.
    fn ref_uscc_check(body: &str) -> char {
        let mut sum = 0u64;
        let mut weight = 1u64;
        for c in body.chars() {
            let v = REF_USCC_ALPHABET.iter().position(|x| *x == c).unwrap() as u64;
            sum += v * weight;
            weight = weight * 3 % 31;
        }
        let c18 = 31 - sum % 31;
        REF_USCC_ALPHABET[if c18 == 31 { 0 } else { c18 as usize }]
    }

    /// Luhn by trying each last digit and checking the whole number's sum.
    fn ref_luhn_complete(body: &str) -> char {
        const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
        (0..10)
            .map(|d| format!("{body}{d}"))
            .find(|s| {
                let total: u32 = s
                    .chars()
                    .rev()
                    .enumerate()
                    .map(|(i, c)| {
                        let v = c.to_digit(10).unwrap();
                        if i % 2 == 1 {
                            DOUBLED[v as usize]
                        } else {
                            v
                        }
                    })
                    .sum();
                total.is_multiple_of(10)
            })
            .and_then(|s| s.chars().last())
            .unwrap()
    }

    fn why(kind: IdentifierKind, value: &str) -> String {
        check(kind, value).unwrap_err().to_string()
    }

    #[test]
    fn the_standards_own_examples_pass() {
        // GB 11643-1999's example number and GB 32100-2015's example code.
        let id = ResidentId::parse("11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(ResidentId::parse(" 11010519491231002x ").unwrap().as_str(), "11010519491231002X");
        let code = Uscc::parse("91350100M000100Y43").unwrap();
        assert_eq!(code.masked(), "91************0Y43");
        assert_eq!(Uscc::parse("91350100m000100y43").unwrap().as_str(), "91350100M000100Y43");
        assert_eq!(ref_resident_check("11010519491231002"), 'X');
        assert_eq!(ref_uscc_check("91350100M000100Y4"), '3');
    }

    #[test]
    fn resident_id_reasons() {
        let k = IdentifierKind::ResidentId;
        assert_eq!(why(k, "110105194912310023"), "check character should be X, found 3");
        assert_eq!(why(k, "110105199913320011"), "birth date 19991332 is not a real date");
        assert_eq!(why(k, "110105190002290011"), "birth date 19000229 is not a real date");
        assert_eq!(why(k, "11010519491231002"), "length is 17, expected 18");
        assert!(why(k, "110105491231002").contains("15-digit"));
        assert_eq!(why(k, "110105184912310021"), "birth year 1849 is outside 1900–2100");
        assert_eq!(why(k, "990105194912310021"), "region code 990105 does not start with a province code");
        assert_eq!(why(k, "1101051949123100A1"), "character 17 is 'A', but the first 17 must be digits");
        assert_eq!(why(k, "11010519491231002Y"), "check character must be a digit or X, found 'Y'");
        // 2000 is a leap year, 1900 is not.
        let body = "11010520000229001";
        assert!(ResidentId::parse(&format!("{body}{}", ref_resident_check(body))).is_ok());
    }

    #[test]
    fn uscc_reasons() {
        let k = IdentifierKind::Uscc;
        assert_eq!(why(k, "91350100M000100Y44"), "check character should be 3, found 4");
        assert!(why(k, "91350100M000100Y4I").contains("character 18 is 'I'"));
        assert!(why(k, "913501O0M000100Y43").contains("character 7 is 'O'"));
        assert!(why(k, "9135A100M000100Y43").contains("characters 3–8 are a region code"));
        assert_eq!(why(k, "91350100M000100Y4"), "length is 17, expected 18");
    }

    #[test]
    fn mobile_numbers_normalise() {
        for input in ["13800138000", "+86 138 0013 8000", "+86-138-0013-8000", "8613800138000", "0086 13800138000"] {
            assert_eq!(Mobile::parse(input).unwrap().as_str(), "13800138000", "{input}");
        }
        let m = Mobile::parse("13812345678").unwrap();
        assert_eq!(m.masked(), "138****5678");
        assert_eq!(format!("{m:?}"), "Mobile(138****5678)");
        let k = IdentifierKind::Mobile;
        assert_eq!(why(k, "12800138000"), "a mainland mobile number starts with 13–19, found 12");
        assert_eq!(why(k, "1380013800"), "length is 10, expected 11 digits");
        assert_eq!(why(k, "1380013800a"), "'a' is not a digit");
        assert_eq!(why(k, "+85291234567"), "only mainland numbers (+86) are accepted");
    }

    #[test]
    fn bank_card_reasons() {
        let card = BankCard::parse("4111 1111 1111 1111").unwrap();
        assert_eq!(card.as_str(), "4111111111111111");
        assert_eq!(card.masked(), "411111******1111");
        let k = IdentifierKind::BankCard;
        assert_eq!(why(k, "4111111111111112"), "Luhn check digit should be 1, found 2");
        assert_eq!(why(k, "41111111111"), "length is 11, expected 12 to 19 digits");
        assert_eq!(luhn_check_digit("411111111111111"), Some(1));
    }

    #[test]
    fn plate_reasons() {
        for ok in ["苏B12345", "京AD12345", "粤B12345D", "沪A1234挂", "粤Z1234港", "京A·F1234", "苏b 12345", "川AK1234"]
        {
            assert!(Plate::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Plate::parse("苏b·12345").unwrap().as_str(), "苏B12345");
        assert_eq!(Plate::parse("苏B12345").unwrap().masked(), "苏B***45");
        assert_eq!(Plate::parse("粤Z1234港").unwrap().masked(), "粤Z***4港");
        let k = IdentifierKind::Plate;
        assert!(why(k, "苏I12345").contains("letter A–Z other than I and O"));
        assert!(why(k, "X B12345").contains("province abbreviation"));
        assert!(why(k, "苏B1234O").contains("'O' is not allowed"));
        assert!(why(k, "京A1234港").contains("only 粤Z"));
        assert!(why(k, "京A12345挂").contains("4 characters before it"));
        assert!(why(k, "京A123456").contains("new-energy"));
        assert!(why(k, "京A1234").contains("length is 6"));
    }

    #[test]
    fn short_values_are_masked_whole() {
        assert_eq!(mask_middle("1234", 3, 4), "****");
        assert_eq!(mask_middle("1234567", 3, 4), "*******");
        assert_eq!(mask_middle("12345678", 3, 4), "123*5678");
        assert_eq!(mask_middle("张三", 1, 0), "张*");
        assert_eq!(mask_middle("张", 1, 0), "*");
        assert_eq!(mask_middle("", 1, 1), "*");
        assert_eq!(mask_middle("abc", usize::MAX, 1), "***");
    }

    #[test]
    fn kinds() {
        for kind in IdentifierKind::ALL {
            assert_eq!(kind.as_str().parse::<IdentifierKind>().unwrap(), kind);
        }
        assert!("passport".parse::<IdentifierKind>().is_err());
        assert!(check(IdentifierKind::Mobile, "13912345678").is_ok());
        assert_eq!(IdentifierKind::Mobile.mask("13912345678"), "139****5678");
        assert_eq!(IdentifierKind::Mobile.mask("12912345678"), "***********");
        let e: CoreError = check(IdentifierKind::Uscc, "x").unwrap_err().into();
        assert_eq!(e.to_string(), "invalid unified social credit code: length is 1, expected 18");
    }

    #[test]
    fn serde_goes_through_the_parser() {
        let id: ResidentId = serde_json::from_str("\"11010519491231002x\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"11010519491231002X\"");
        assert!(serde_json::from_str::<ResidentId>("\"110105194912310023\"").is_err());
        assert!(serde_json::from_str::<Mobile>("\"+86 139-1234-5678\"").is_ok());
    }

    /// Every valid resident ID: region from a few real codes, any date 1900–2100.
    fn resident_ids() -> impl Strategy<Value = String> {
        let regions = prop::sample::select(vec!["110105", "320202", "440305", "650102", "810000", "530402"]);
        (regions, 0i64..73_414, 0u32..1000).prop_map(|(region, days, seq)| {
            let date = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            let body = format!("{region}{}{seq:03}", date.format("%Y%m%d"));
            format!("{body}{}", ref_resident_check(&body))
        })
    }

    fn usccs() -> impl Strategy<Value = String> {
        let alphabet = || prop::sample::select(REF_USCC_ALPHABET.to_vec());
        (alphabet(), alphabet(), 0u32..1_000_000, prop::collection::vec(alphabet(), 9)).prop_map(
            |(authority, kind, region, org)| {
                let org: String = org.into_iter().collect();
                let body = format!("{authority}{kind}{region:06}{org}");
                format!("{body}{}", ref_uscc_check(&body))
            },
        )
    }

    fn bank_cards() -> impl Strategy<Value = String> {
        "[1-9][0-9]{10,17}".prop_map(|body| format!("{body}{}", ref_luhn_complete(&body)))
    }

    /// Replaces character `pos` with a different one from `allowed`, chosen by `pick`.
    fn substitute(value: &str, pos: usize, allowed: &[char], pick: usize) -> String {
        let mut chars: Vec<char> = value.chars().collect();
        let others: Vec<char> = allowed.iter().copied().filter(|c| *c != chars[pos]).collect();
        chars[pos] = others[pick % others.len()];
        chars.into_iter().collect()
    }

    /// The mask keeps exactly the allowed ends, equal to the original, and stars elsewhere.
    fn assert_mask_reveals_only(
        original: &str,
        masked: &str,
        prefix: usize,
        suffix: usize,
    ) -> Result<(), TestCaseError> {
        let o: Vec<char> = original.chars().collect();
        let m: Vec<char> = masked.chars().collect();
        prop_assert_eq!(o.len(), m.len());
        for (i, (a, b)) in o.iter().zip(&m).enumerate() {
            if i < prefix || i >= o.len() - suffix {
                prop_assert_eq!(a, b);
            } else {
                prop_assert_eq!(*b, '*');
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn resident_ids_pass_and_every_single_substitution_fails(id in resident_ids(), pos in 0usize..18, pick in 0usize..100) {
            let parsed = ResidentId::parse(&id).unwrap();
            prop_assert_eq!(parsed.birth_date().format("%Y%m%d").to_string(), &id[6..14]);
            assert_mask_reveals_only(&id, &parsed.masked(), 6, 4)?;
            let allowed: Vec<char> = if pos == 17 { "0123456789X".chars().collect() } else { "0123456789".chars().collect() };
            let changed = substitute(&id, pos, &allowed, pick);
            prop_assert!(ResidentId::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn usccs_pass_and_every_single_substitution_fails(code in usccs(), pos in 0usize..18, pick in 0usize..100) {
            let parsed = Uscc::parse(&code).unwrap();
            assert_mask_reveals_only(&code, &parsed.masked(), 2, 4)?;
            let changed = substitute(&code, pos, &REF_USCC_ALPHABET, pick);
            prop_assert!(Uscc::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn bank_cards_pass_and_every_single_substitution_fails(card in bank_cards(), pos in 0usize..19, pick in 0usize..100) {
            let parsed = BankCard::parse(&card).unwrap();
            assert_mask_reveals_only(&card, &parsed.masked(), 6, 4)?;
            let digits: Vec<char> = "0123456789".chars().collect();
            let changed = substitute(&card, pos % card.len(), &digits, pick);
            prop_assert!(BankCard::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn mobiles_in_any_common_format(second in 3u32..10, rest in "[0-9]{9}", prefix in prop::sample::select(vec!["", "+86", "+86 ", "86", "0086"]), dashed in any::<bool>()) {
            let number = format!("1{second}{rest}");
            let shown = if dashed { format!("{}-{}-{}", &number[..3], &number[3..7], &number[7..]) } else { number.clone() };
            let parsed = Mobile::parse(&format!("{prefix}{shown}")).unwrap();
            prop_assert_eq!(parsed.as_str(), number.as_str());
            assert_mask_reveals_only(&number, &parsed.masked(), 3, 4)?;
        }

        #[test]
        fn plates_in_every_shape(
            province in prop::sample::select(PLATE_PROVINCES.chars().collect::<Vec<_>>()),
            authority in "[A-HJ-NP-Z]",
            serial in prop_oneof!["[0-9A-HJ-NP-Z]{5}", "[DF][0-9A-HJ-NP-Z][0-9]{4}", "[0-9]{5}[DF]", "[0-9A-HJ-NP-Z]{4}[挂学警]"],
        ) {
            let plate = format!("{province}{authority}{serial}");
            let parsed = Plate::parse(&plate).unwrap();
            assert_mask_reveals_only(&plate, &parsed.masked(), 2, 2)?;
        }

        #[test]
        fn mask_middle_never_reveals_more_than_asked(s in "\\PC{0,24}", p in 0usize..10, q in 0usize..10) {
            let m = mask_middle(&s, p, q);
            let n = s.chars().count();
            if n <= p + q {
                prop_assert!(m.chars().all(|c| c == '*'));
                prop_assert_eq!(m.chars().count(), n.max(1));
            } else {
                assert_mask_reveals_only(&s, &m, p, q)?;
            }
        }

        #[test]
        fn check_never_panics(kind in prop::sample::select(IdentifierKind::ALL.to_vec()), s in "\\PC{0,24}") {
            let _ = check(kind, &s);
            let _ = kind.mask(&s);
        }
    }
}
