//! The automatic checks an export passes before a reviewer sees it (SPEC §4.4): no invisible
//! column in the output's lineage, no column derived from plain sensitive data, the row limit,
//! and the minimum group size where a grant allows aggregates only.

use std::path::Path;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use shuyu_core::grants::{ColumnMode, GrantedTable};

use crate::engine::{read_meta, scratch_dir, TableMeta};
use crate::error::{Result, SandboxError};

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub passed: bool,
    pub detail: String,
    pub basis: &'static str,
}

/// What the checks need to know about the workspace's grants and the profile.
pub struct Rules<'a> {
    /// Each granted table with whether its grant allows aggregates only.
    pub grants: &'a [(GrantedTable, bool)],
    pub sensitive_level: u8,
    pub max_rows: u64,
    pub min_group_size: u64,
}

/// Reads a scratch table: its metadata and its rows.
pub fn read_scratch(workspace_dir: &Path, table: &str) -> Result<(TableMeta, Vec<RecordBatch>)> {
    let dir = scratch_dir(workspace_dir).join(table);
    if !dir.join("data.parquet").exists() {
        return Err(SandboxError::NotFound(format!("no scratch table named {table}")));
    }
    let meta = read_meta(&dir)?;
    let file = std::fs::File::open(dir.join("data.parquet"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| SandboxError::Engine(e.to_string()))?;
    let batches =
        reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| SandboxError::Engine(e.to_string()))?;
    Ok((meta, batches))
}

/// Runs every check; the export goes to review only when all pass.
pub fn check(
    meta: &TableMeta,
    batches: &[RecordBatch],
    group_size_column: Option<&str>,
    rules: &Rules<'_>,
) -> Vec<Check> {
    let mut out = Vec::new();
    let invisible: Vec<String> = meta
        .columns
        .iter()
        .filter(|(_, l)| l.is_invisible())
        .map(|(n, l)| format!("{n} ({})", l.invisible.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect();
    out.push(Check {
        check: "no_invisible_column",
        passed: invisible.is_empty(),
        detail: if invisible.is_empty() {
            "none".into()
        } else {
            format!("invisible columns: {}", invisible.join("; "))
        },
        basis: "JS §13",
    });
    let plain_sensitive: Vec<String> = meta
        .columns
        .iter()
        .filter(|(_, l)| {
            l.sources.iter().any(|s| {
                rules.grants.iter().any(|(g, _)| {
                    g.columns.iter().any(|c| {
                        s == &format!("{}.{}", g.table, c.name)
                            && c.mode == ColumnMode::Plain
                            && c.sensitivity >= rules.sensitive_level
                    })
                })
            })
        })
        .map(|(n, _)| n.clone())
        .collect();
    out.push(Check {
        check: "no_plain_sensitive_column",
        passed: plain_sensitive.is_empty(),
        detail: if plain_sensitive.is_empty() { "none".into() } else { plain_sensitive.join(", ") },
        basis: "JS §13",
    });
    if let Some(model) = &meta.model {
        let passed = meta.level < rules.sensitive_level;
        out.push(Check {
            check: "model_parameters",
            passed,
            detail: if passed {
                format!("model {model} is level {}", meta.level)
            } else {
                format!(
                    "model {model} was trained on level {} data: its parameters never leave; publish it as an \
                     in-domain scoring interface instead",
                    meta.level
                )
            },
            basis: "SPEC §4.5",
        });
    }
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    out.push(Check {
        check: "row_limit",
        passed: rows <= rules.max_rows,
        detail: format!("{rows} rows, at most {}", rules.max_rows),
        basis: "SPEC §4.4",
    });
    let aggregated: Vec<&str> = rules
        .grants
        .iter()
        .filter(|(g, only)| {
            *only && meta.columns.iter().any(|(_, l)| l.sources.iter().any(|s| s.starts_with(&format!("{}.", g.table))))
        })
        .map(|(g, _)| g.table.as_str())
        .collect();
    // Grants whose k is enforced by the query rewrite: every group of a scratch table computed
    // from them already covered k subjects, unless the table still holds rows.
    let rewritten =
        aggregated.iter().all(|t| rules.grants.iter().any(|(g, _)| g.table == *t && !g.privacy.reads_rows()));
    if !aggregated.is_empty() && rewritten {
        let passed = meta.subjects.is_empty();
        let detail = if passed {
            format!("every group covered at least k subjects of {} when the table was computed", aggregated.join(", "))
        } else {
            format!("the table holds rows of {} that are not aggregated: aggregate them first", aggregated.join(", "))
        };
        out.push(Check { check: "minimum_group_size", passed, detail, basis: "SPEC §4.5" });
    } else if !aggregated.is_empty() {
        let (passed, detail) = match group_size_column {
            None => (
                false,
                format!(
                    "{} allow aggregates only: name the column that holds each group's size",
                    aggregated.join(", ")
                ),
            ),
            Some(col) => match smallest(batches, col) {
                Ok(Some(min)) => (
                    min >= rules.min_group_size as i64,
                    format!("smallest group {min}, at least {}", rules.min_group_size),
                ),
                Ok(None) => (true, "no groups".into()),
                Err(e) => (false, e),
            },
        };
        out.push(Check { check: "minimum_group_size", passed, detail, basis: "SPEC §4.5" });
    }
    out
}

fn smallest(batches: &[RecordBatch], column: &str) -> std::result::Result<Option<i64>, String> {
    let mut min: Option<i64> = None;
    for b in batches {
        let Ok(i) = b.schema().index_of(column) else {
            return Err(format!("the table has no column {column}"));
        };
        let c = cast(b.column(i), &DataType::Int64).map_err(|_| format!("{column} is not a count"))?;
        let Some(ints) = c.as_any().downcast_ref::<Int64Array>() else {
            return Err(format!("{column} is not a count"));
        };
        if ints.null_count() > 0 {
            return Err(format!("{column} has empty values"));
        }
        for v in ints.iter().flatten() {
            min = Some(min.map_or(v, |m: i64| m.min(v)));
        }
    }
    Ok(min)
}
