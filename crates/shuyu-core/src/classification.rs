//! Column classification (SPEC §4, issue 5 item 3): from a sample of values, suggest what
//! personal or identifying information a column holds and its sensitivity level. Identifiers
//! with check characters are recognised only when the check characters hold, so a column of
//! random 18-digit numbers is not taken for resident IDs. The holder confirms or corrects.

use serde::Serialize;

use crate::validators::{BankCard, Mobile, Plate, ResidentId, Uscc};

/// What a column was recognised as, with its suggested level (1–4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnGuess {
    pub column: String,
    /// `resident_id`, `mobile`, `uscc`, `bank_card`, `plate`, `email`, `person_name`, `address`,
    /// `date_of_birth`; `None` when nothing matched well enough.
    #[serde(rename = "type")]
    pub kind: Option<&'static str>,
    pub level: u8,
    /// Share of the non-empty sampled values the detector accepted.
    pub confidence: f64,
    /// Non-empty values sampled.
    pub samples: usize,
}

/// A detector accepts a value; `level` is the sensitivity when the column is of this kind.
struct Detector {
    kind: &'static str,
    level: u8,
    accepts: fn(&str) -> bool,
    /// Heuristic detectors also need the column's name to point the same way.
    name_hints: &'static [&'static str],
}

/// The 100 most common Chinese surnames cover the large majority of people; enough for a
/// suggestion the holder confirms.
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";

/// Two-character surnames, kept whole when names are recognised or masked.
pub const COMPOUND_SURNAMES: &[&str] =
    &["欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "司徒", "夏侯"];

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

fn person_name(v: &str) -> bool {
    let chars: Vec<char> = v.chars().collect();
    (2..=4).contains(&chars.len())
        && chars.iter().all(|c| is_cjk(*c) || *c == '*')
        && (chars.first().is_some_and(|c| SURNAMES.contains(*c)) || COMPOUND_SURNAMES.iter().any(|s| v.starts_with(s)))
        && !v.contains(['省', '市', '区', '县', '路', '街', '号'])
}

fn address(v: &str) -> bool {
    v.chars().count() >= 6 && v.contains(['省', '市', '区', '县', '镇', '乡', '路', '街', '道', '号', '村'])
}

fn email(v: &str) -> bool {
    match v.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty() && domain.contains('.') && !domain.starts_with('.') && !v.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn date_of_birth(v: &str) -> bool {
    let v = v.trim();
    let parsed = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(v, "%Y%m%d"))
        .or_else(|_| chrono::NaiveDate::parse_from_str(v, "%Y/%m/%d"));
    parsed.is_ok_and(|d| (1900..=2030).contains(&chrono::Datelike::year(&d)))
}

const DETECTORS: &[Detector] = &[
    Detector { kind: "resident_id", level: 4, accepts: |v| ResidentId::parse(v).is_ok(), name_hints: &[] },
    Detector {
        kind: "bank_card",
        level: 4,
        accepts: |v| BankCard::parse(v).is_ok(),
        name_hints: &["card", "卡", "account", "账"],
    },
    Detector { kind: "uscc", level: 1, accepts: |v| Uscc::parse(v).is_ok(), name_hints: &[] },
    Detector { kind: "plate", level: 3, accepts: |v| Plate::parse(v).is_ok(), name_hints: &[] },
    Detector { kind: "mobile", level: 3, accepts: |v| Mobile::parse(v).is_ok(), name_hints: &[] },
    Detector { kind: "email", level: 3, accepts: email, name_hints: &[] },
    Detector { kind: "person_name", level: 3, accepts: person_name, name_hints: &[] },
    Detector { kind: "address", level: 3, accepts: address, name_hints: &[] },
    Detector {
        kind: "date_of_birth", level: 3, accepts: date_of_birth, name_hints: &["birth", "dob", "出生", "生日"]
    },
];

/// The share of values a detector must accept for the column to be called that kind.
pub const THRESHOLD: f64 = 0.9;

/// Classifies one column from its sampled values (empty values are ignored).
pub fn classify_column(column: &str, values: &[&str]) -> ColumnGuess {
    let sample: Vec<&str> = values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
    let lower = column.to_lowercase();
    let mut best: Option<(&Detector, f64)> = None;
    for d in DETECTORS {
        if !d.name_hints.is_empty() && !d.name_hints.iter().any(|h| lower.contains(h)) {
            continue;
        }
        if sample.is_empty() {
            break;
        }
        let hits = sample.iter().filter(|v| (d.accepts)(v)).count();
        let ratio = hits as f64 / sample.len() as f64;
        if ratio >= THRESHOLD && best.is_none_or(|(_, r)| ratio > r) {
            best = Some((d, ratio));
        }
    }
    match best {
        Some((d, ratio)) => ColumnGuess {
            column: column.to_string(),
            kind: Some(d.kind),
            level: d.level,
            confidence: ratio,
            samples: sample.len(),
        },
        None => {
            ColumnGuess { column: column.to_string(), kind: None, level: 1, confidence: 0.0, samples: sample.len() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validators::resident_id_check_char;

    fn valid_ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let body = format!("32020219{:02}0{}15{:03}", 70 + i % 30, 1 + i % 9, i % 1000);
                let check = resident_id_check_char(&body).unwrap();
                format!("{body}{check}")
            })
            .collect()
    }

    #[test]
    fn resident_ids_are_recognised_by_their_check_character_and_random_digits_are_not() {
        let ids = valid_ids(50);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let g = classify_column("sfzh", &refs);
        assert_eq!((g.kind, g.level), (Some("resident_id"), 4));
        assert!((g.confidence - 1.0).abs() < 1e-9);
        // Random 18-digit numbers: most fail the check character or the birth date.
        let random: Vec<String> =
            (0..50u64).map(|i| format!("{:018}", 100_000_000_000_000_000u64 + i * 7_919_191_919)).collect();
        let refs: Vec<&str> = random.iter().map(String::as_str).collect();
        assert_eq!(classify_column("id", &refs).kind, None);
    }

    #[test]
    fn heuristics_for_names_addresses_mobiles_and_dates() {
        let names = ["张三", "李四光", "王小明", "欧阳娜娜", "陈静"];
        assert_eq!(classify_column("name", &names).kind, Some("person_name"));
        let addresses = ["江苏省无锡市梁溪区中山路100号", "无锡市滨湖区湖滨路8号", "锡山区东亭街道春笋村12号"];
        assert_eq!(classify_column("addr", &addresses).kind, Some("address"));
        let mobiles = ["13800138000", "15912345678", "18600001111"];
        assert_eq!(classify_column("phone", &mobiles).kind, Some("mobile"));
        let dates = ["1985-03-12", "1990-11-30", "2001-01-01"];
        assert_eq!(classify_column("birth_date", &dates).kind, Some("date_of_birth"));
        assert_eq!(classify_column("issued_on", &dates).kind, None, "a date is a birth date only by name");
        assert_eq!(classify_column("note", &["", " "]).samples, 0);
        let mixed = ["张三", "合格", "不合格"];
        assert_eq!(classify_column("result", &mixed).kind, None);
    }
}
