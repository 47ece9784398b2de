//! Row filters that a stored dataset version's own statistics prove true for every row.
//!
//! A grant's row filter is applied to every scan of its table. When the Parquet row-group
//! statistics (min, max, null count) show that no row of the version can fail the filter, the
//! filter is not evaluated: the answer is the same, and a stored version never changes (a new
//! load is a new directory), so the proof holds for the version's life.
//!
//! The proof asks DataFusion's pruning predicate whether any row group *may* hold a row where
//! `NOT filter OR c IS NULL` (for every column `c` the filter reads) is true; only if every row
//! group is excluded is the filter dropped. Anything the pruning predicate cannot reason about
//! counts as "may", so an undecidable filter is always evaluated. Floating-point columns are never
//! proved (Parquet statistics leave NaN out), nor are columns whose null counts were not written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::arrow::array::{ArrayRef, BooleanArray, UInt64Array};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{not, Expr};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::schema::types::SchemaDescriptor;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::prelude::SessionContext;

/// Whether `sql`, a grant's row filter, holds for every row stored under `dir`. Remembered per
/// version and filter; any error or doubt answers `false`, so the filter is evaluated.
pub fn holds_everywhere(dir: &Path, sql: &str) -> bool {
    type Cache = Mutex<HashMap<(PathBuf, String), bool>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (dir.to_path_buf(), sql.to_string());
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).copied()) {
        return hit;
    }
    let proved = prove(dir, sql).unwrap_or(false);
    if let Ok(mut c) = cache.lock() {
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(key, proved);
    }
    proved
}

fn prove(dir: &Path, sql: &str) -> datafusion::common::Result<bool> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "parquet") {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Ok(false);
    }
    for file in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file)?)?;
        let stats = RowGroups {
            metadata: reader.metadata().clone(),
            schema: reader.schema().clone(),
            parquet: reader.parquet_schema(),
        };
        if !no_row_violates(sql, &stats)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn no_row_violates(sql: &str, stats: &RowGroups<'_>) -> datafusion::common::Result<bool> {
    let ctx = SessionContext::new();
    let df_schema = Arc::new(DFSchema::try_from(stats.schema.as_ref().clone())?);
    let filter = ctx.parse_sql_expr(sql, &df_schema)?;
    let columns = filter.column_refs();
    let mut violation = not(filter.clone());
    for c in &columns {
        let Ok(field) = stats.schema.field_with_name(&c.name) else { return Ok(false) };
        if field.data_type().is_floating() {
            return Ok(false);
        }
        violation = violation.or(Expr::Column((*c).clone()).is_null());
    }
    let simplifier = ExprSimplifier::new(SimplifyContext::builder().with_schema(df_schema.clone()).build());
    let violation = simplifier.simplify(simplifier.coerce(violation, &df_schema)?)?;
    let physical = ctx.create_physical_expr(violation, &df_schema)?;
    let pruning = PruningPredicateBuilder::new().with_file_schema(stats.schema.clone()).try_build(physical)?;
    if pruning.always_true() {
        return Ok(false);
    }
    Ok(pruning.prune(stats)?.iter().all(|may| !may))
}

/// One Parquet file's row groups as pruning containers.
struct RowGroups<'a> {
    metadata: Arc<ParquetMetaData>,
    schema: SchemaRef,
    parquet: &'a SchemaDescriptor,
}

impl RowGroups<'_> {
    fn converter(&self, column: &str) -> Option<StatisticsConverter<'_>> {
        let schema: &Schema = self.schema.as_ref();
        StatisticsConverter::try_new(column, schema, self.parquet)
            .ok()
            .map(|c| c.with_missing_null_counts_as_zero(false))
    }
}

impl PruningStatistics for RowGroups<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.converter(&column.name)?.row_group_mins(self.metadata.row_groups().iter()).ok()
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.converter(&column.name)?.row_group_maxes(self.metadata.row_groups().iter()).ok()
    }

    fn num_containers(&self) -> usize {
        self.metadata.num_row_groups()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let counts: UInt64Array =
            self.converter(&column.name)?.row_group_null_counts(self.metadata.row_groups().iter()).ok()?;
        Some(Arc::new(counts))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let first = self.schema.fields().first()?;
        let counts = self.converter(first.name())?.row_group_row_counts(self.metadata.row_groups().iter()).ok()??;
        Some(Arc::new(counts))
    }

    fn contained(&self, _column: &Column, _values: &std::collections::HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};

    fn stored() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("district", DataType::Utf8, false),
            Field::new("score", DataType::Int64, true),
            Field::new("ratio", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from((1..=10).collect::<Vec<i64>>())),
                Arc::new(StringArray::from(vec!["东城区"; 10])),
                Arc::new(Int64Array::from(vec![
                    Some(5),
                    None,
                    Some(7),
                    Some(8),
                    Some(9),
                    Some(5),
                    Some(6),
                    Some(7),
                    Some(8),
                    Some(9),
                ])),
                Arc::new(Float64Array::from(vec![0.5; 10])),
            ],
        )
        .unwrap();
        let file = std::fs::File::create(tmp.path().join("data.parquet")).unwrap();
        let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        tmp
    }

    #[test]
    fn only_filters_the_statistics_prove_are_skipped() {
        let tmp = stored();
        let dir = tmp.path();
        assert!(holds_everywhere(dir, "id > 0"));
        assert!(holds_everywhere(dir, "id BETWEEN 1 AND 10 AND district = '东城区'"));
        // A row fails: the filter must run.
        assert!(!holds_everywhere(dir, "id > 1"));
        assert!(!holds_everywhere(dir, "district = '西城区'"));
        // A NULL makes the filter drop that row, so `score > 0` is not true everywhere.
        assert!(!holds_everywhere(dir, "score > 0"));
        // Floats are never proved; nor is what pruning cannot reason about, nor bad SQL.
        assert!(!holds_everywhere(dir, "ratio > 0"));
        assert!(!holds_everywhere(dir, "length(district) > 0"), "true, but not provable from min and max");
        assert!(!holds_everywhere(dir, "no_such_column > 0"));
        assert!(!holds_everywhere(&dir.join("missing"), "id > 0"));
    }
}
