//! Export watermarks and leak tracing (SPEC §4.4, issue 5 item 8).
//!
//! **Embedding.** Every approved export gets a random 256-bit key. Each numeric cell whose
//! magnitude is at least [`MIN_UNITS`] units (an integer, or a decimal in hundredths) is split
//! into its high part (all digits but the last) and its last digit. HMAC-SHA256(key, high part)
//! decides whether the cell is marked (one in two) and which parity its last digit must have;
//! a marked cell whose parity differs moves by one unit in the last place. The high part never
//! changes, so the decision can be recomputed from the value alone: it survives shuffled rows,
//! deleted rows and deleted or reordered columns. Tolerance: a marked value moves by at most
//! one unit in its last place (at most 1% of any marked value, since marked values have at
//! least three digits), and the direction of each move is keyed, as often up as down, so sums and means keep their
//! value to well within one unit per marked row on average. Small numbers (counts of groups,
//! codes below 100) are never touched.
//!
//! **Tracing.** For a suspect file and one export's key, every distinct high part the key
//! marks is a trial: it agrees when the last digit has the parity the key asks for. A file that
//! did not come from that export agrees on each trial with probability ½, independently across
//! distinct high parts (HMAC outputs for distinct inputs are independent), so the number of
//! agreements is Binomial(n, ½). By Hoeffding's inequality the chance of an agreement rate of
//! r or more is at most exp(−2n(r − ½)²). A file is attributed to an export only when that bound,
//! multiplied by the number of exports compared (a union bound), is below 10⁻⁶ and r ≥ 0.9:
//! the false-attribution probability is below 10⁻⁶ by construction. A copy keeping 20% of a
//! few hundred rows with one numeric column left still gives dozens of trials with r = 1.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::error::{Result, SandboxError};

/// Marked values have at least this many units (three significant digits).
pub const MIN_UNITS: i64 = 100;
/// The false-attribution bound the tracer guarantees.
pub const FALSE_ATTRIBUTION: f64 = 1e-6;
const MIN_AGREEMENT: f64 = 0.9;

/// Whether a high part is marked, the parity its last digit must have, and which way to move
/// it (keyed too, so that moves cancel out in sums).
fn decide_with_direction(key: &[u8; 32], high: i64) -> Option<(u8, bool)> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(&high.to_le_bytes());
    let out = mac.finalize().into_bytes();
    (out[0] & 1 == 0).then_some((out[1] & 1, out[2] & 1 == 0))
}

fn decide(key: &[u8; 32], high: i64) -> Option<u8> {
    decide_with_direction(key, high).map(|(bit, _)| bit)
}

/// Moves `units` to the parity the key asks for, if it is marked.
fn mark_units(key: &[u8; 32], units: i64) -> i64 {
    if units.abs() < MIN_UNITS {
        return units;
    }
    let (high, digit) = (units / 10, (units % 10).abs());
    let Some((bit, up)) = decide_with_direction(key, high) else { return units };
    if digit as u8 & 1 == bit {
        return units;
    }
    let new_digit = match (digit, up) {
        (0, _) => 1,
        (9, _) => 8,
        (d, true) => d + 1,
        (d, false) => d - 1,
    };
    let sign = if units < 0 { -1 } else { 1 };
    high * 10 + sign * new_digit
}

/// Embeds the watermark: integer columns by units, float columns in hundredths (rounded to
/// two decimals, as the export file shows them).
pub fn embed(batches: &[RecordBatch], key: &[u8; 32]) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let columns: Vec<ArrayRef> = b
            .columns()
            .iter()
            .map(|c| -> ArrayRef {
                match c.data_type() {
                    DataType::Int64 => {
                        let a = c.as_any().downcast_ref::<Int64Array>();
                        match a {
                            Some(a) => {
                                Arc::new(a.iter().map(|v| v.map(|v| mark_units(key, v))).collect::<Int64Array>())
                            }
                            None => c.clone(),
                        }
                    }
                    DataType::Float64 => match c.as_any().downcast_ref::<Float64Array>() {
                        Some(a) => Arc::new(
                            a.iter()
                                .map(|v| v.map(|v| mark_units(key, (v * 100.0).round() as i64) as f64 / 100.0))
                                .collect::<Float64Array>(),
                        ),
                        None => c.clone(),
                    },
                    _ => c.clone(),
                }
            })
            .collect();
        out.push(RecordBatch::try_new(b.schema(), columns).map_err(|e| SandboxError::Engine(e.to_string()))?);
    }
    Ok(out)
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes batches as CSV: floats with two decimals, everything else as Arrow shows it.
pub fn to_csv(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut out = String::new();
    if let Some(first) = batches.first() {
        let header: Vec<String> = first.schema().fields().iter().map(|f| quote(f.name())).collect();
        out.push_str(&header.join(","));
        out.push('\n');
    }
    for b in batches {
        for row in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(row) {
                        return Ok(String::new());
                    }
                    if let Some(f) = c.as_any().downcast_ref::<Float64Array>() {
                        return Ok(format!("{:.2}", f.value(row)));
                    }
                    array_value_to_string(c, row).map(|s| quote(&s)).map_err(|e| SandboxError::Engine(e.to_string()))
                })
                .collect::<Result<_>>()?;
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

/// Numeric cells of a CSV file, as units (integers as they are, decimals in hundredths).
fn numeric_cells(csv: &[u8]) -> Vec<i64> {
    let text = String::from_utf8_lossy(csv);
    let mut out = Vec::new();
    for line in text.lines() {
        for cell in crate::ingest::split_csv_line(line) {
            let cell = cell.trim();
            if cell.is_empty() || !cell.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
                continue;
            }
            if cell.contains('.') {
                if let Ok(v) = cell.parse::<f64>() {
                    out.push((v * 100.0).round() as i64);
                }
            } else if let Ok(v) = cell.parse::<i64>() {
                out.push(v);
            }
        }
    }
    out
}

/// How well a suspect file matches one export.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub export_id: String,
    /// Distinct marked high parts found in the file.
    pub trials: usize,
    pub agreements: usize,
    /// Upper bound on the chance that a file from elsewhere agrees this well, times the number
    /// of exports compared.
    pub false_attribution_bound: f64,
    pub attributed: bool,
    /// 1 − the bound, for display.
    pub confidence: f64,
}

/// Compares a suspect file with every candidate export; the best match first.
pub fn trace(csv: &[u8], candidates: &[(String, [u8; 32])]) -> Vec<Evidence> {
    let cells = numeric_cells(csv);
    let compared = candidates.len().max(1) as f64;
    let mut out: Vec<Evidence> = candidates
        .iter()
        .map(|(id, key)| {
            // One trial per distinct high part: repeated values are not independent evidence.
            let mut trials: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
            for &units in &cells {
                if units.abs() < MIN_UNITS {
                    continue;
                }
                let high = units / 10;
                if let Some(bit) = decide(key, high) {
                    let e = trials.entry(high).or_default();
                    if ((units % 10).unsigned_abs() as u8) & 1 == bit {
                        e.0 += 1;
                    } else {
                        e.1 += 1;
                    }
                }
            }
            let n = trials.len();
            let agreements = trials.values().filter(|(yes, no)| yes >= no).count();
            let rate = if n == 0 { 0.0 } else { agreements as f64 / n as f64 };
            let bound =
                if rate <= 0.5 { 1.0 } else { ((-2.0 * n as f64 * (rate - 0.5).powi(2)).exp() * compared).min(1.0) };
            Evidence {
                export_id: id.clone(),
                trials: n,
                agreements,
                false_attribution_bound: bound,
                attributed: rate >= MIN_AGREEMENT && bound < FALSE_ATTRIBUTION,
                confidence: 1.0 - bound,
            }
        })
        .collect();
    out.sort_by(|a, b| a.false_attribution_bound.total_cmp(&b.false_attribution_bound));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn table(rows: usize, seed: u64) -> RecordBatch {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let district: Vec<String> = (0..rows).map(|i| format!("区{}", i % 7)).collect();
        let income: Vec<i64> = (0..rows).map(|_| 3000 + (next() % 20000) as i64).collect();
        let paid: Vec<f64> = (0..rows).map(|_| (next() % 1_000_000) as f64 / 100.0 + 10.0).collect();
        let count: Vec<i64> = (0..rows).map(|_| 10 + (next() % 50) as i64).collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("district", DataType::Utf8, false),
                Field::new("income", DataType::Int64, false),
                Field::new("paid", DataType::Float64, false),
                Field::new("n", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(district)),
                Arc::new(Int64Array::from(income)),
                Arc::new(Float64Array::from(paid)),
                Arc::new(Int64Array::from(count)),
            ],
        )
        .unwrap()
    }

    /// Keeps every fifth row in reverse order and only the `paid` column and the district.
    fn leaked_fifth(csv: &[u8]) -> Vec<u8> {
        let text = String::from_utf8(csv.to_vec()).unwrap();
        let mut lines: Vec<&str> = text.lines().skip(1).step_by(5).collect();
        lines.reverse();
        let mut out = String::from("paid,district\n");
        for l in lines {
            let cells: Vec<&str> = l.split(',').collect();
            out.push_str(&format!("{},{}\n", cells[2], cells[0]));
        }
        out.into_bytes()
    }

    #[test]
    fn a_cut_shuffled_copy_is_traced_and_an_independent_file_is_not() {
        let keys: Vec<(String, [u8; 32])> = (1..=5u8).map(|i| (format!("export-{i}"), [i; 32])).collect();
        let original = table(400, 1);
        let marked = embed(std::slice::from_ref(&original), &keys[2].1).unwrap();
        let csv = to_csv(&marked).unwrap();
        let evidence = trace(&leaked_fifth(&csv), &keys);
        assert_eq!(evidence[0].export_id, "export-3");
        assert!(evidence[0].attributed, "{evidence:?}");
        assert!(evidence[1..].iter().all(|e| !e.attributed));
        // An independently generated file, and the unmarked original, are attributed to nothing.
        let other = to_csv(&[table(400, 99)]).unwrap();
        assert!(trace(&other, &keys).iter().all(|e| !e.attributed));
        assert!(trace(&to_csv(&[original]).unwrap(), &keys).iter().all(|e| !e.attributed));
    }

    #[test]
    fn aggregates_stay_within_tolerance_and_small_numbers_are_untouched() {
        let original = table(1000, 7);
        let marked = embed(std::slice::from_ref(&original), &[9; 32]).unwrap().remove(0);
        let sum = |b: &RecordBatch, i: usize| -> f64 {
            match b.column(i).data_type() {
                DataType::Int64 => {
                    b.column(i).as_any().downcast_ref::<Int64Array>().unwrap().iter().flatten().sum::<i64>() as f64
                }
                _ => b.column(i).as_any().downcast_ref::<Float64Array>().unwrap().iter().flatten().sum::<f64>(),
            }
        };
        // Each marked value moves by one unit at most; the sum of 1000 moves stays far smaller.
        assert!((sum(&original, 1) - sum(&marked, 1)).abs() <= 100.0);
        assert!((sum(&original, 2) - sum(&marked, 2)).abs() <= 1.0);
        assert_eq!(original.column(3), marked.column(3), "counts below 100 are never changed");
        let diffs = original
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .iter()
            .zip(marked.column(1).as_any().downcast_ref::<Int64Array>().unwrap().iter())
            .filter(|(a, b)| a != b)
            .count();
        assert!(diffs > 100, "about a quarter of the values carry a changed digit: {diffs}");
    }
}
