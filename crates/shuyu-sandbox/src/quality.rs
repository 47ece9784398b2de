//! Quality checks over a stored dataset version (JS §20, YXO §23): completeness of every
//! cell, validity of identifiers with check characters, uniqueness of key columns. One pass over
//! the Parquet file, batch by batch, so memory stays bounded by the keys' hashes.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::Path;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu_core::catalogue::FieldSpec;
use shuyu_core::quality::{identifier_kind, is_key, ColumnMeasure, Dimension, Measure};
use shuyu_core::validators::IdentifierKind;

use crate::error::{Result, SandboxError};

/// Failing rows kept per column, for the holder to find them.
const FAILING_ROWS: usize = 20;

struct Column {
    index: usize,
    name: String,
    kind: Option<IdentifierKind>,
    key: bool,
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

/// Completeness, validity and uniqueness of the stored file `data` with the entry's `fields`.
pub fn check(data: &Path, fields: &[FieldSpec]) -> Result<Vec<Measure>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(data)?)
        .map_err(|e| SandboxError::Invalid(e.to_string()))?;
    let schema = builder.schema().clone();
    let mut columns: Vec<Column> = Vec::new();
    for f in fields {
        let Ok(index) = schema.index_of(&f.name) else { continue };
        columns.push(Column {
            index,
            name: f.name.clone(),
            kind: identifier_kind(f),
            key: is_key(f),
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
            let text = if c.kind.is_some() || c.key || array.data_type() == &DataType::Utf8 {
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
    Ok(vec![completeness, validity, uniqueness])
}
