//! Quality checks over a stored dataset version (JS §20, YXO §23): completeness of every
//! cell, validity of identifiers with check characters, uniqueness of key columns, and
//! consistency with other datasets (values of a referencing column found in the referenced
//! one). One pass over the Parquet file, batch by batch, so memory stays bounded by the keys'
//! and the referenced columns' hashes (8 bytes a distinct value).

use std::collections::HashSet;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu_core::catalogue::FieldSpec;
use shuyu_core::quality::{identifier_kind, is_key, reference, ColumnMeasure, Dimension, Measure};
use shuyu_core::validators::IdentifierKind;

use crate::error::{Result, SandboxError};

/// Failing rows kept per column, for the holder to find them.
const FAILING_ROWS: usize = 20;

/// A referenced column to check a column against: `data` is the referenced entry's current
/// version, or `None` when it has none yet.
#[derive(Debug, Clone)]
pub struct ReferencedData {
    /// The referencing column in the version being checked.
    pub column: String,
    /// How the report names the referenced column, e.g. `常住人口基本信息 v3 / resident_id`.
    pub label: String,
    pub data: Option<PathBuf>,
    pub field: String,
}

struct Column {
    index: usize,
    name: String,
    kind: Option<IdentifierKind>,
    key: bool,
    /// The referenced column's value hashes, for consistency.
    known: Option<HashSet<u64>>,
    consistent: u64,
    referenced: u64,
    inconsistent_rows: Vec<u64>,
    filled: u64,
    valid: u64,
    checked: u64,
    invalid_rows: Vec<u64>,
    seen: HashSet<u64>,
    duplicates: u64,
    duplicate_rows: Vec<u64>,
}

fn strings(a: &ArrayRef) -> Result<StringArray> {
    let c = if a.data_type() == &DataType::Utf8 { a.clone() } else { cast(a, &DataType::Utf8).map_err(engine)? };
    c.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| SandboxError::Engine("a column could not be read as text".into()))
}

fn engine(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Engine(e.to_string())
}

fn value_hash(v: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// The distinct values (as hashes) of `field` in a stored file, trimmed, blanks left out;
/// `None` when the file has no such field.
fn value_set(data: &Path, field: &str) -> Result<Option<HashSet<u64>>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(data)?)
        .map_err(|e| SandboxError::Invalid(e.to_string()))?;
    let Ok(index) = builder.schema().index_of(field) else { return Ok(None) };
    let mut set = HashSet::new();
    for batch in builder.build().map_err(engine)? {
        let t = strings(batch.map_err(engine)?.column(index))?;
        for i in 0..t.len() {
            if t.is_valid(i) {
                let v = t.value(i).trim();
                if !v.is_empty() {
                    set.insert(value_hash(v));
                }
            }
        }
    }
    Ok(Some(set))
}

/// Completeness, validity, uniqueness and consistency of the stored file `data` with the
/// entry's `fields`; `references` are the referenced columns the fields' `ref:` tokens name.
pub fn check(data: &Path, fields: &[FieldSpec], references: &[ReferencedData]) -> Result<Vec<Measure>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(data)?)
        .map_err(|e| SandboxError::Invalid(e.to_string()))?;
    let schema = builder.schema().clone();
    let mut columns: Vec<Column> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for f in fields {
        let Ok(index) = schema.index_of(&f.name) else { continue };
        let referenced = references.iter().find(|r| r.column == f.name);
        let known = match referenced.and_then(|r| r.data.as_deref().map(|d| (d, &r.field))) {
            Some((d, field)) => {
                let set = value_set(d, field)?;
                if set.is_none() {
                    notes.push(format!("{}: the referenced dataset has no field {field}", f.name));
                }
                set
            }
            None => None,
        };
        columns.push(Column {
            index,
            name: f.name.clone(),
            kind: identifier_kind(f),
            key: is_key(f),
            known,
            consistent: 0,
            referenced: 0,
            inconsistent_rows: Vec::new(),
            filled: 0,
            valid: 0,
            checked: 0,
            invalid_rows: Vec::new(),
            seen: HashSet::new(),
            duplicates: 0,
            duplicate_rows: Vec::new(),
        });
    }
    let mut rows = 0u64;
    for batch in builder.build().map_err(engine)? {
        let batch = batch.map_err(engine)?;
        for c in &mut columns {
            let array = batch.column(c.index);
            let text = if c.kind.is_some() || c.key || c.known.is_some() || array.data_type() == &DataType::Utf8 {
                Some(strings(array)?)
            } else {
                None
            };
            for i in 0..batch.num_rows() {
                let row = rows + i as u64 + 1;
                let value = match &text {
                    Some(t) if t.is_valid(i) => Some(t.value(i).trim()),
                    Some(_) => None,
                    None => array.is_valid(i).then_some(""),
                };
                // A blank string is as missing as a null.
                let Some(v) = value.filter(|v| !v.is_empty() || text.is_none()) else { continue };
                c.filled += 1;
                if let Some(kind) = c.kind {
                    c.checked += 1;
                    if kind.check(v).is_ok() {
                        c.valid += 1;
                    } else if c.invalid_rows.len() < FAILING_ROWS {
                        c.invalid_rows.push(row);
                    }
                }
                if let Some(known) = &c.known {
                    c.referenced += 1;
                    if known.contains(&value_hash(v)) {
                        c.consistent += 1;
                    } else if c.inconsistent_rows.len() < FAILING_ROWS {
                        c.inconsistent_rows.push(row);
                    }
                }
                if c.key && !c.seen.insert(value_hash(v)) {
                    c.duplicates += 1;
                    if c.duplicate_rows.len() < FAILING_ROWS {
                        c.duplicate_rows.push(row);
                    }
                }
            }
        }
        rows += batch.num_rows() as u64;
    }

    let completeness = Measure {
        dimension: Dimension::Completeness,
        checked: rows * columns.len() as u64,
        passed: columns.iter().map(|c| c.filled).sum(),
        columns: columns
            .iter()
            .map(|c| ColumnMeasure {
                column: c.name.clone(),
                checked: rows,
                passed: c.filled,
                failing_rows: Vec::new(),
            })
            .collect(),
        note: format!("{rows} rows × {} columns; empty text counts as missing", columns.len()),
    };
    let ids: Vec<&Column> = columns.iter().filter(|c| c.kind.is_some()).collect();
    let validity = Measure {
        dimension: Dimension::Validity,
        checked: ids.iter().map(|c| c.checked).sum(),
        passed: ids.iter().map(|c| c.valid).sum(),
        columns: ids
            .iter()
            .map(|c| ColumnMeasure {
                column: c.name.clone(),
                checked: c.checked,
                passed: c.valid,
                failing_rows: c.invalid_rows.clone(),
            })
            .collect(),
        note: ids
            .iter()
            .map(|c| format!("{}: {}", c.name, c.kind.map(IdentifierKind::noun).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; "),
    };
    let keys: Vec<&Column> = columns.iter().filter(|c| c.key).collect();
    let uniqueness = Measure {
        dimension: Dimension::Uniqueness,
        checked: keys.iter().map(|c| c.filled).sum(),
        passed: keys.iter().map(|c| c.filled - c.duplicates).sum(),
        columns: keys
            .iter()
            .map(|c| ColumnMeasure {
                column: c.name.clone(),
                checked: c.filled,
                passed: c.filled - c.duplicates,
                failing_rows: c.duplicate_rows.clone(),
            })
            .collect(),
        note: if keys.is_empty() { "no column is declared a key".into() } else { String::new() },
    };
    let refs: Vec<&Column> = columns.iter().filter(|c| c.known.is_some()).collect();
    for r in references {
        match columns.iter().find(|c| c.name == r.column) {
            Some(c) if c.known.is_some() => notes.push(format!("{}: found in {}", r.column, r.label)),
            Some(_) if r.data.is_none() => notes.push(format!("{}: {} has no data yet", r.column, r.label)),
            _ => {}
        }
    }
    if notes.is_empty() {
        notes.push("no column refers to another dataset".into());
    }
    let consistency = Measure {
        dimension: Dimension::Consistency,
        checked: refs.iter().map(|c| c.referenced).sum(),
        passed: refs.iter().map(|c| c.consistent).sum(),
        columns: refs
            .iter()
            .map(|c| ColumnMeasure {
                column: c.name.clone(),
                checked: c.referenced,
                passed: c.consistent,
                failing_rows: c.inconsistent_rows.clone(),
            })
            .collect(),
        note: notes.join("; "),
    };
    Ok(vec![completeness, validity, uniqueness, consistency])
}

/// The referenced columns the fields name, for [`check`]: `resolve(entry)` gives the
/// referenced entry's label and its current version's stored file, if any.
pub fn references(
    fields: &[FieldSpec],
    mut resolve: impl FnMut(&str) -> Option<(String, Option<PathBuf>)>,
) -> Vec<ReferencedData> {
    fields
        .iter()
        .filter_map(|f| {
            let r = reference(f)?;
            let (label, data) = resolve(&r.entry).unwrap_or_else(|| (format!("entry {}", r.entry), None));
            Some(ReferencedData {
                column: f.name.clone(),
                label: format!("{label} / {}", r.field),
                data,
                field: r.field,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ingest, Format, DATA_FILE};
    use shuyu_core::catalogue::FieldType;

    fn field(name: &str, format: &str) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            data_type: FieldType::String,
            format: format.into(),
            description: String::new(),
            sensitivity: 2,
            pii: None,
        }
    }

    fn stored(dir: &Path, name: &str, csv: &str, fields: &[FieldSpec]) -> PathBuf {
        let input = dir.join(format!("{name}.csv"));
        std::fs::write(&input, csv).unwrap();
        let out = dir.join(name);
        ingest(&input, Format::Csv, fields, &out, |_| {}).unwrap();
        out.join(DATA_FILE)
    }

    /// A loan whose borrower is not in the population register is inconsistent, row by row.
    #[test]
    fn values_missing_from_the_referenced_dataset_are_inconsistent() {
        let dir = tempfile::tempdir().unwrap();
        let residents = [field("resident_id", "key")];
        let register = stored(
            dir.path(),
            "residents",
            "resident_id
A1
A2
A3
",
            &residents,
        );
        let loans = [field("loan_id", "key"), field("borrower", "ref:E1/resident_id")];
        let data = stored(
            dir.path(),
            "loans",
            "loan_id,borrower
L1,A1
L2,A9
L3, A3 
L4,
L5,A2
",
            &loans,
        );
        let refs = references(&loans, |e| (e == "E1").then(|| ("常住人口".to_string(), Some(register.clone()))));
        let measures = check(&data, &loans, &refs).unwrap();
        let c = measures.iter().find(|m| m.dimension == Dimension::Consistency).unwrap();
        // Four borrowers present (one blank), three found.
        assert_eq!((c.checked, c.passed), (4, 3));
        assert_eq!(c.columns[0].failing_rows, vec![2]);
        assert!(c.note.contains("常住人口 / resident_id"), "{}", c.note);
        assert!(c.score() < 95);

        // A reference to an entry without data yet measures nothing and says so.
        let refs = references(&loans, |_| Some(("常住人口".to_string(), None)));
        let measures = check(&data, &loans, &refs).unwrap();
        let c = measures.iter().find(|m| m.dimension == Dimension::Consistency).unwrap();
        assert_eq!(c.checked, 0);
        assert!(c.note.contains("has no data yet"));
        // A referenced field that does not exist measures nothing and says so; the version
        // still loads.
        let wrong = [field("loan_id", "key"), field("borrower", "ref:E1/nope")];
        let refs = references(&wrong, |_| Some(("x".to_string(), Some(register.clone()))));
        let measures = check(&data, &wrong, &refs).unwrap();
        let c = measures.iter().find(|m| m.dimension == Dimension::Consistency).unwrap();
        assert_eq!(c.checked, 0);
        assert!(c.note.contains("has no field nope"), "{}", c.note);
    }
}
