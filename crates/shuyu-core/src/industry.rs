//! GB/T 4754-2017 industry codes (国民经济行业分类), shipped as data in
//! `standards/gbt4754-2017.toml` and compiled in.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::CoreError;

const DATA: &str = include_str!("../../../standards/gbt4754-2017.toml");

#[derive(Debug, Deserialize)]
struct Section {
    name: String,
    divisions: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct CodeList {
    #[allow(dead_code)]
    source: String,
    sections: BTreeMap<String, Section>,
}

fn list() -> &'static CodeList {
    static LIST: OnceLock<CodeList> = OnceLock::new();
    // The file is compiled in and tested below; an empty list (refusing every code) is the
    // safe fallback should it ever fail to parse.
    LIST.get_or_init(|| toml::from_str(DATA).unwrap_or(CodeList { source: String::new(), sections: BTreeMap::new() }))
}

/// A checked industry code: a section letter, optionally with a division, group or class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct IndustryCode(String);

impl IndustryCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The section letter, e.g. `L`.
    pub fn section(&self) -> &str {
        &self.0[..1]
    }

    /// The Chinese name of the most specific level the list knows.
    pub fn name(&self) -> String {
        let Some(section) = list().sections.get(self.section()) else { return String::new() };
        match self.0.get(1..3) {
            Some(div) => section.divisions.get(div).cloned().unwrap_or_default(),
            None => section.name.clone(),
        }
    }
}

impl From<IndustryCode> for String {
    fn from(c: IndustryCode) -> String {
        c.0
    }
}

impl std::str::FromStr for IndustryCode {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = |reason: &str| CoreError::InvalidIdentifier { kind: "industry code", reason: reason.into() };
        let s = s.trim();
        let letter = s.get(..1).ok_or_else(|| bad("empty"))?;
        let section =
            list().sections.get(letter).ok_or_else(|| bad("the first character must be a section letter A–T"))?;
        let digits = &s[1..];
        if digits.is_empty() {
            return Ok(Self(s.to_string()));
        }
        if !matches!(digits.len(), 2..=4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("after the section letter come 2 (division), 3 (group) or 4 (class) digits"));
        }
        if !section.divisions.contains_key(&digits[..2]) {
            return Err(bad(&format!("division {} is not in section {letter} ({})", &digits[..2], section.name)));
        }
        Ok(Self(s.to_string()))
    }
}

/// Every section and division, for screens and filters: `(code, name)`.
pub fn divisions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (letter, section) in &list().sections {
        out.push((letter.clone(), section.name.clone()));
        for (div, name) in &section.divisions {
            out.push((format!("{letter}{div}"), name.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_has_twenty_sections_and_ninety_seven_divisions() {
        assert_eq!(list().sections.len(), 20);
        let divisions: usize = list().sections.values().map(|s| s.divisions.len()).sum();
        assert_eq!(divisions, 97);
        // Divisions are numbered 01–97 without gaps across sections.
        let mut all: Vec<u32> =
            list().sections.values().flat_map(|s| s.divisions.keys().map(|k| k.parse::<u32>().unwrap())).collect();
        all.sort_unstable();
        assert_eq!(all, (1..=97).collect::<Vec<_>>());
    }

    #[test]
    fn codes_are_checked_against_their_section() {
        assert_eq!("I64".parse::<IndustryCode>().unwrap().name(), "互联网和相关服务");
        assert_eq!("L7212".parse::<IndustryCode>().unwrap().section(), "L");
        assert!("S".parse::<IndustryCode>().is_ok());
        assert!("I13".parse::<IndustryCode>().is_err(), "13 belongs to C");
        assert!("U01".parse::<IndustryCode>().is_err());
        assert!("I6".parse::<IndustryCode>().is_err());
        assert!("I64211".parse::<IndustryCode>().is_err());
    }
}
