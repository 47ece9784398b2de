//! `shuyu gen`: deterministic synthetic public-sector data (issue 5 item 1). Every row is a pure
//! function of (seed, dataset, row number) through our own SplitMix64, so output never depends on
//! a library's random algorithm, and datasets join: enterprise `legal_rep_id`, traffic
//! `owner_id` refer to resident rows by the same formula. Identifiers carry valid check
//! characters (resident IDs, USCCs) and valid birth dates. CSV or Parquet (text columns).
//! Social insurance records name employers among the first `residents / 10` enterprise rows,
//! so generate enterprises with that many rows to join them.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use shuyu_core::validators::{resident_id_check_char, uscc_check_char};

use crate::bench::bar;

/// SplitMix64: tiny, fast, and fully specified here.
struct Rng(u64);

impl Rng {
    fn for_row(seed: u64, dataset: u64, row: u64) -> Self {
        let mut r = Rng(seed ^ dataset.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ row.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }
}

const RESIDENTS: u64 = 1;
const ENTERPRISES: u64 = 2;
const TRAFFIC: u64 = 3;
const SOCIAL: u64 = 4;
const MEDICAL: u64 = 5;

const DISTRICTS: &[(&str, &str)] = &[
    ("320202", "梁溪区"),
    ("320205", "锡山区"),
    ("320206", "惠山区"),
    ("320211", "滨湖区"),
    ("320213", "梁溪区"),
    ("320214", "新吴区"),
    ("320281", "江阴市"),
    ("320282", "宜兴市"),
];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "欧阳",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
    "建国", "海燕", "子涵", "浩然",
];
const ROADS: &[&str] =
    &["中山路", "人民路", "解放路", "学前街", "湖滨路", "太湖大道", "清扬路", "金城路", "运河东路", "五爱路"];
const MOBILE_PREFIXES: &[&str] =
    &["130", "133", "135", "138", "139", "150", "152", "158", "159", "177", "180", "186", "188", "199"];
const INDUSTRIES: &[&str] = &["C39", "C38", "F51", "F52", "I64", "I65", "K70", "L72", "M74", "G54", "H62", "E48"];
const ENTERPRISE_WORDS: &[&str] = &["华", "锡", "太湖", "新", "创", "恒", "盛", "科", "达", "源", "瑞", "通"];
const ENTERPRISE_KINDS: &[&str] =
    &["科技有限公司", "贸易有限公司", "制造有限公司", "信息技术有限公司", "物流有限公司", "餐饮管理有限公司"];
const PLATE_LETTERS: &[char] = &['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N', 'P', 'Q', 'R'];
const VIOLATIONS: &[(&str, u32)] =
    &[("超速", 200), ("闯红灯", 200), ("违停", 150), ("不系安全带", 50), ("占用应急车道", 200)];

/// Resident `row`'s ID number: district, birth date, sequence (gender parity), check character.
fn resident_id(seed: u64, row: u64) -> (String, &'static str, chrono::NaiveDate, bool) {
    let mut r = Rng::for_row(seed, RESIDENTS, row);
    let (code, district) = *r.pick(DISTRICTS);
    let birth = chrono::NaiveDate::from_ymd_opt(1940, 1, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(r.below(24_800))))
        .unwrap_or_default();
    let female = r.below(2) == 0;
    let seq = r.below(500) * 2 + u64::from(!female);
    let body = format!("{code}{}{seq:03}", birth.format("%Y%m%d"));
    let check = resident_id_check_char(&body).unwrap_or('X');
    (format!("{body}{check}"), district, birth, female)
}

fn resident_row(seed: u64, row: u64) -> Vec<String> {
    let (id, district, birth, female) = resident_id(seed, row);
    let mut r = Rng::for_row(seed, RESIDENTS ^ 0xFF, row);
    let name = format!("{}{}", r.pick(SURNAMES), r.pick(GIVEN));
    let mobile = format!("{}{:08}", r.pick(MOBILE_PREFIXES), r.below(100_000_000));
    let address = format!("江苏省无锡市{district}{}{}号", r.pick(ROADS), 1 + r.below(300));
    vec![
        id,
        name,
        if female { "女".into() } else { "男".into() },
        birth.to_string(),
        mobile,
        address,
        format!("H{:09}", row / 3),
    ]
}

const USCC_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn enterprise_row(seed: u64, row: u64, residents: u64) -> Vec<String> {
    let mut r = Rng::for_row(seed, ENTERPRISES, row);
    let (code, _) = *r.pick(DISTRICTS);
    let org: String = (0..9).map(|_| char::from(USCC_CHARS[usize::try_from(r.below(31)).unwrap_or(0)])).collect();
    let body = format!("91{code}{org}");
    let uscc = format!("{body}{}", uscc_check_char(&body).unwrap_or('0'));
    let name = format!("无锡{}{}{}", r.pick(ENTERPRISE_WORDS), r.pick(ENTERPRISE_WORDS), r.pick(ENTERPRISE_KINDS));
    let rep = resident_id(seed, r.below(residents.max(1))).0;
    let capital = (1 + r.below(5000)) * 10_000;
    let status = *r.pick(&["存续", "存续", "存续", "在业", "注销", "吊销"]);
    vec![uscc, name, rep, r.pick(INDUSTRIES).to_string(), capital.to_string(), status.to_string()]
}

fn traffic_row(seed: u64, row: u64, residents: u64) -> Vec<String> {
    let mut r = Rng::for_row(seed, TRAFFIC, row);
    let plate: String = format!("苏B{}{:04}", r.pick(PLATE_LETTERS), r.below(10_000));
    let owner = resident_id(seed, r.below(residents.max(1))).0;
    let (kind, fine) = *r.pick(VIOLATIONS);
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(r.below(365))))
        .unwrap_or_default();
    vec![format!("T{row:010}"), plate, owner, kind.to_string(), fine.to_string(), day.to_string()]
}

/// How many enterprises employ the residents (social insurance employers).
fn enterprises_for(residents: u64) -> u64 {
    (residents / 10).max(1)
}

const HOSPITALS: &[&str] =
    &["无锡市人民医院", "无锡市第二人民医院", "无锡市中医医院", "江南大学附属医院", "无锡市儿童医院"];
const DEPARTMENTS: &[&str] = &["内科", "外科", "儿科", "妇产科", "眼科", "口腔科", "急诊科"];
const DIAGNOSES: &[&str] = &["J06.9", "I10", "E11.9", "K29.7", "M54.5", "J20.9", "N39.0", "H52.1"];

fn social_row(seed: u64, row: u64, residents: u64) -> Vec<String> {
    let mut r = Rng::for_row(seed, SOCIAL, row);
    let person = resident_id(seed, r.below(residents.max(1))).0;
    let employer = enterprise_row(seed, r.below(enterprises_for(residents)), residents).remove(0);
    let base = 3_000 + r.below(27_000);
    let month = 1 + r.below(12);
    let status = *r.pick(&["正常缴费", "正常缴费", "正常缴费", "暂停缴费", "补缴"]);
    vec![
        format!("S{row:010}"),
        person,
        employer,
        format!("2025-{month:02}"),
        base.to_string(),
        format!("{:.2}", base as f64 * 0.08),
        format!("{:.2}", base as f64 * 0.02),
        status.to_string(),
    ]
}

fn medical_row(seed: u64, row: u64, residents: u64) -> Vec<String> {
    let mut r = Rng::for_row(seed, MEDICAL, row);
    let person = resident_id(seed, r.below(residents.max(1))).0;
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(r.below(365))))
        .unwrap_or_default();
    let cost = 50 + r.below(20_000);
    vec![
        format!("M{row:010}"),
        person,
        r.pick(HOSPITALS).to_string(),
        r.pick(DEPARTMENTS).to_string(),
        day.to_string(),
        r.pick(DIAGNOSES).to_string(),
        format!("{}.{:02}", cost, r.below(100)),
    ]
}

/// The columns of `residents`, in file order.
pub const RESIDENT_COLUMNS: [&str; 7] =
    ["resident_id", "name", "gender", "birth_date", "mobile", "address", "household_id"];

/// Makes row `i` of a dataset.
type RowFn = Box<dyn Fn(u64) -> Vec<String>>;

/// Writes `rows` rows of `dataset` as CSV to `out/<dataset>.csv`, with a progress bar.
pub fn run(dataset: &str, rows: u64, seed: u64, residents: u64, out: &Path, parquet: bool) -> Result<ExitCode> {
    let (header, row_fn): (&[&str], RowFn) = match dataset {
        "residents" => (
            &RESIDENT_COLUMNS,
            Box::new(move |i| resident_row(seed, i)),
        ),
        "enterprises" => (
            &["uscc", "name", "legal_rep_id", "industry", "registered_capital", "status"],
            Box::new(move |i| enterprise_row(seed, i, residents)),
        ),
        "traffic_violations" => (
            &["case_id", "plate", "owner_id", "violation", "fine", "date"],
            Box::new(move |i| traffic_row(seed, i, residents)),
        ),
        "social_insurance" => (
            &["record_id", "resident_id", "employer_uscc", "month", "base", "pension_paid", "medical_paid", "status"],
            Box::new(move |i| social_row(seed, i, residents)),
        ),
        "medical_visits" => (
            &["visit_id", "resident_id", "hospital", "department", "visit_date", "diagnosis", "cost"],
            Box::new(move |i| medical_row(seed, i, residents)),
        ),
        other => bail!(
            "unknown dataset {other:?}: use residents, enterprises, traffic_violations, social_insurance or medical_visits"
        ),
    };
    if parquet {
        return write_parquet(dataset, header, &row_fn, rows, seed, out);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(format!("{dataset}.csv"));
    let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(w, "{}", header.join(","))?;
    let pb = bar(rows, dataset);
    let step = (rows / 200).max(1);
    for i in 0..rows {
        // No generated value contains a comma, quote or newline, so no quoting is needed.
        writeln!(w, "{}", row_fn(i).join(","))?;
        if i % step == 0 {
            pb.set_position(i);
        }
    }
    w.flush()?;
    pb.finish_and_clear();
    println!("{} rows of {dataset} (seed {seed}) → {}", rows, path.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes the rows as Parquet, every column text, in row groups of 128 Ki rows.
fn write_parquet(dataset: &str, header: &[&str], row_fn: &RowFn, rows: u64, seed: u64, out: &Path) -> Result<ExitCode> {
    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(format!("{dataset}.parquet"));
    let schema =
        Arc::new(Schema::new(header.iter().map(|h| Field::new(*h, DataType::Utf8, false)).collect::<Vec<_>>()));
    let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)?;
    let pb = bar(rows, dataset);
    let chunk = 128 * 1024;
    let mut start = 0;
    while start < rows {
        let end = (start + chunk).min(rows);
        let mut builders: Vec<StringBuilder> = header.iter().map(|_| StringBuilder::new()).collect();
        for i in start..end {
            for (b, v) in builders.iter_mut().zip(row_fn(i)) {
                b.append_value(v);
            }
        }
        let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        pb.set_position(end);
        start = end;
    }
    writer.close()?;
    pb.finish_and_clear();
    println!("{rows} rows of {dataset} (seed {seed}) → {}", path.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuyu_core::validators::{Plate, ResidentId, Uscc};

    #[test]
    fn rows_are_deterministic_valid_and_join() {
        assert_eq!(resident_row(7, 42), resident_row(7, 42));
        assert_ne!(resident_row(7, 42), resident_row(8, 42));
        for i in 0..500 {
            let r = resident_row(7, i);
            let id = ResidentId::parse(&r[0]).unwrap();
            assert_eq!(id.birth_date().to_string(), r[3]);
            let e = enterprise_row(7, i, 1000);
            assert!(Uscc::parse(&e[0]).is_ok(), "{}", e[0]);
            let t = traffic_row(7, i, 1000);
            assert!(Plate::parse(&t[1]).is_ok(), "{}", t[1]);
        }
        // Social insurance and medical visits name residents; employers are enterprises.
        let social = social_row(7, 1, 10);
        assert!((0..10).any(|k| resident_row(7, k)[0] == social[1]));
        assert!((0..enterprises_for(10)).any(|k| enterprise_row(7, k, 10)[0] == social[2]));
        let visit = medical_row(7, 1, 10);
        assert!((0..10).any(|k| resident_row(7, k)[0] == visit[1]));
        // The legal representative is resident number k of the same seed.
        let e = enterprise_row(7, 3, 10);
        assert!((0..10).any(|k| resident_row(7, k)[0] == e[2]));
    }
}
