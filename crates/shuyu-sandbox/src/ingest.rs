//! Ingestion (SPEC §4.1, YXR §6 存证): a source department loads a published entry's data as
//! CSV, JSON lines or Parquet. The input is streamed batch by batch into Parquet (memory stays
//! bounded by one batch and one row group whatever the file's size), typed by the catalogue
//! entry's field schema. Columns missing from or extra to the entry are an error that names
//! them. The evidence records both files' SHA-256, the row count and the schema.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use serde::Serialize;
use sha2::{Digest, Sha256};
use shuyu_core::catalogue::{FieldSpec, FieldType};

use crate::error::{Result, SandboxError};

pub const DATA_FILE: &str = "data.parquet";
const BATCH_ROWS: usize = 8192;
const ROW_GROUP_ROWS: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    JsonLines,
    Parquet,
}

impl Format {
    /// From its name as the API and the CLI take it: `csv`, `jsonl` (or `json`), `parquet`.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "csv" => Some(Format::Csv),
            "jsonl" | "json" => Some(Format::JsonLines),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// From a file name's extension.
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
            Some(Format::JsonLines)
        } else if lower.ends_with(".parquet") {
            Some(Format::Parquet)
        } else {
            None
        }
    }
}

/// What was loaded, as evidence (存证).
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub format: Format,
    pub original_sha256: String,
    pub original_bytes: u64,
    pub stored_sha256: String,
    pub stored_bytes: u64,
    pub rows: u64,
    /// Column name and catalogue type, in stored order.
    pub schema: Vec<(String, String)>,
}

fn arrow_type(t: FieldType) -> DataType {
    match t {
        FieldType::String => DataType::Utf8,
        FieldType::Integer => DataType::Int64,
        FieldType::Decimal => DataType::Float64,
        FieldType::Date => DataType::Date32,
        FieldType::Datetime => DataType::Timestamp(TimeUnit::Second, None),
        FieldType::Boolean => DataType::Boolean,
        FieldType::Binary => DataType::Binary,
    }
}

/// Reads and hashes, counting bytes for the progress bar.
struct Hashing<R, F> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    progress: F,
}

impl<R: Read, F: FnMut(u64)> Read for Hashing<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        (self.progress)(self.bytes);
        Ok(n)
    }
}

/// Compares the names found in the file with the entry's fields.
fn check_columns(found: &[String], fields: &[FieldSpec]) -> Result<SchemaRef> {
    let missing: Vec<&str> = fields.iter().map(|f| f.name.as_str()).filter(|n| !found.iter().any(|c| c == n)).collect();
    let extra: Vec<&str> = found.iter().map(String::as_str).filter(|c| !fields.iter().any(|f| f.name == *c)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing columns: {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            parts.push(format!("columns not in the catalogue entry: {}", extra.join(", ")));
        }
        return Err(SandboxError::SchemaDrift(format!(
            "the file does not match the catalogue entry's fields ({}); change the catalogue entry first (WH §10)",
            parts.join("; ")
        )));
    }
    // Stored in the catalogue's order whatever the file's order.
    Ok(Arc::new(Schema::new(
        fields.iter().map(|f| Field::new(&f.name, arrow_type(f.data_type), true)).collect::<Vec<_>>(),
    )))
}

/// Splits a CSV header line (quoted names allowed).
fn header_names(line: &str) -> Vec<String> {
    split_csv_line(line.trim_end_matches(['\r', '\n']).trim_start_matches('\u{feff}'))
        .into_iter()
        .map(|n| n.trim().to_string())
        .collect()
}

/// Splits one CSV line into its cells; quotes group commas and are dropped.
pub(crate) fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Puts a batch read in file order into the stored order and types.
fn conform(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    let mut columns = Vec::with_capacity(target.fields().len());
    for f in target.fields() {
        let Some(i) = batch.schema().index_of(f.name()).ok() else {
            return Err(SandboxError::SchemaDrift(format!("column {} is missing", f.name())));
        };
        let c = batch.column(i);
        columns.push(if c.data_type() == f.data_type() {
            c.clone()
        } else {
            cast(c, f.data_type())
                .map_err(|e| SandboxError::SchemaDrift(format!("column {} is not {}: {e}", f.name(), f.data_type())))?
        });
    }
    RecordBatch::try_new(target.clone(), columns).map_err(|e| SandboxError::Engine(e.to_string()))
}

fn bad_row(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::SchemaDrift(format!("a value does not match the catalogue entry's type: {e}"))
}

/// Streams `input` into `out_dir/data.parquet`. `progress` receives bytes read so far.
pub fn ingest(
    input: &Path,
    format: Format,
    fields: &[FieldSpec],
    out_dir: &Path,
    progress: impl FnMut(u64),
) -> Result<Evidence> {
    std::fs::create_dir_all(out_dir)?;
    let partial = out_dir.join(".data.parquet.partial");
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut hashing = Hashing { inner: File::open(input)?, hasher: Sha256::new(), bytes: 0, progress };
    let mut rows = 0u64;
    let target: SchemaRef;
    {
        let mut write =
            |writer: &mut Option<ArrowWriter<File>>, target: &SchemaRef, batch: RecordBatch| -> Result<()> {
                let batch = conform(&batch, target)?;
                rows += batch.num_rows() as u64;
                let w = match writer {
                    Some(w) => w,
                    None => writer.insert(
                        ArrowWriter::try_new(File::create(&partial)?, target.clone(), Some(props.clone()))
                            .map_err(|e| SandboxError::Engine(e.to_string()))?,
                    ),
                };
                w.write(&batch).map_err(|e| SandboxError::Engine(e.to_string()))
            };
        let mut writer: Option<ArrowWriter<File>> = None;
        match format {
            Format::Csv => {
                let mut reader = BufReader::with_capacity(1 << 20, &mut hashing);
                let mut header = String::new();
                reader.read_line(&mut header)?;
                let names = header_names(&header);
                target = check_columns(&names, fields)?;
                let file_schema = Arc::new(Schema::new(
                    names
                        .iter()
                        .map(|n| {
                            let t = target.field_with_name(n).map(|f| f.data_type().clone()).unwrap_or(DataType::Utf8);
                            Field::new(n, t, true)
                        })
                        .collect::<Vec<_>>(),
                ));
                let csv = datafusion::arrow::csv::ReaderBuilder::new(file_schema)
                    .with_header(false)
                    .with_batch_size(BATCH_ROWS)
                    .build_buffered(reader)
                    .map_err(bad_row)?;
                for batch in csv {
                    write(&mut writer, &target, batch.map_err(bad_row)?)?;
                }
            }
            Format::JsonLines => {
                let mut reader = BufReader::with_capacity(1 << 20, &mut hashing);
                let first = reader.fill_buf()?;
                let line_end = first.iter().position(|b| *b == b'\n').unwrap_or(first.len());
                let names: Vec<String> =
                    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&first[..line_end]) {
                        Ok(m) => m.keys().cloned().collect(),
                        Err(e) => {
                            return Err(SandboxError::Invalid(format!("the first line is not a JSON object: {e}")))
                        }
                    };
                target = check_columns(&names, fields)?;
                let json = datafusion::arrow::json::ReaderBuilder::new(target.clone())
                    .with_batch_size(BATCH_ROWS)
                    .with_strict_mode(true)
                    .build(reader)
                    .map_err(bad_row)?;
                for batch in json {
                    write(&mut writer, &target, batch.map_err(bad_row)?)?;
                }
            }
            Format::Parquet => {
                // Parquet needs random access: hash the whole file first, then read it.
                std::io::copy(&mut hashing, &mut std::io::sink())?;
                let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(input)?)
                    .map_err(|e| SandboxError::Invalid(format!("not a Parquet file: {e}")))?;
                let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
                target = check_columns(&names, fields)?;
                let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(bad_row)?;
                for batch in reader {
                    write(&mut writer, &target, batch.map_err(bad_row)?)?;
                }
            }
        }
        let writer = match writer {
            Some(w) => w,
            None => ArrowWriter::try_new(File::create(&partial)?, target.clone(), Some(props))
                .map_err(|e| SandboxError::Engine(e.to_string()))?,
        };
        writer.close().map_err(|e| SandboxError::Engine(e.to_string()))?;
    }
    let stored = out_dir.join(DATA_FILE);
    std::fs::rename(&partial, &stored)?;
    let (stored_sha256, stored_bytes) = sha256_file(&stored)?;
    Ok(Evidence {
        format,
        original_sha256: hex::encode(hashing.hasher.finalize()),
        original_bytes: hashing.bytes,
        stored_sha256,
        stored_bytes,
        rows,
        schema: fields.iter().map(|f| (f.name.clone(), f.data_type.to_string())).collect(),
    })
}

/// SHA-256 and size of a file.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

/// Loads an operator's own file (WX §16.3) into a workspace table: CSV or JSON lines, every
/// column as text (the operator casts in SQL), with the same streaming and evidence as a
/// catalogue dataset. Column names must be SQL identifiers.
pub fn ingest_upload(input: &Path, format: Format, out_dir: &Path) -> Result<Evidence> {
    let names: Vec<String> = match format {
        Format::Csv => {
            let mut first = String::new();
            BufReader::new(File::open(input)?).read_line(&mut first)?;
            header_names(&first)
        }
        Format::JsonLines => {
            let mut first = String::new();
            BufReader::new(File::open(input)?).read_line(&mut first)?;
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&first)
                .map_err(|e| SandboxError::Invalid(format!("the first line is not a JSON object: {e}")))?
                .keys()
                .cloned()
                .collect()
        }
        Format::Parquet => return Err(SandboxError::Invalid("upload CSV or JSON lines".into())),
    };
    if let Some(bad) = names.iter().find(|n| !shuyu_core::grants::is_identifier(n)) {
        return Err(SandboxError::Invalid(format!(
            "column name {bad:?}: use lower-case letters, digits and _ so it can be named in SQL"
        )));
    }
    let fields: Vec<FieldSpec> = names
        .iter()
        .map(|n| FieldSpec {
            name: n.clone(),
            data_type: FieldType::String,
            format: String::new(),
            description: String::new(),
            sensitivity: 1,
            pii: None,
        })
        .collect();
    ingest(input, format, &fields, out_dir, |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<FieldSpec> {
        let f = |name: &str, t| FieldSpec {
            name: name.into(),
            data_type: t,
            format: String::new(),
            description: String::new(),
            sensitivity: 1,
            pii: None,
        };
        vec![f("id", FieldType::String), f("age", FieldType::Integer), f("born", FieldType::Date)]
    }

    #[test]
    fn csv_becomes_parquet_with_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        // Columns in another order than the entry's; stored in the entry's order.
        std::fs::write(&input, "age,id,born\n36,a,1990-03-07\n40,b,1985-12-12\n").unwrap();
        let ev = ingest(&input, Format::Csv, &fields(), &dir.path().join("v1"), |_| {}).unwrap();
        assert_eq!(ev.rows, 2);
        assert_eq!(ev.original_bytes, 44);
        assert_eq!(ev.original_sha256, sha256_file(&input).unwrap().0);
        assert_eq!(ev.stored_sha256, sha256_file(&dir.path().join("v1/data.parquet")).unwrap().0);
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(dir.path().join("v1/data.parquet")).unwrap()).unwrap();
        let names: Vec<_> = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["id", "age", "born"]);
    }

    #[test]
    fn drift_names_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, "id,age,phone\na,1,138\n").unwrap();
        let e = ingest(&input, Format::Csv, &fields(), &dir.path().join("v1"), |_| {}).unwrap_err().to_string();
        assert!(e.contains("missing columns: born") && e.contains("not in the catalogue entry: phone"), "{e}");
        std::fs::write(&input, "id,age,born\na,not-a-number,1990-01-01\n").unwrap();
        assert!(ingest(&input, Format::Csv, &fields(), &dir.path().join("v1"), |_| {}).is_err());
        assert!(!dir.path().join("v1/data.parquet").exists());
    }

    #[test]
    fn json_lines_and_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jsonl");
        std::fs::write(
            &input,
            "{\"id\":\"a\",\"age\":3,\"born\":\"2020-01-01\"}\n{\"id\":\"b\",\"age\":4,\"born\":\"2021-01-01\"}\n",
        )
        .unwrap();
        let ev = ingest(&input, Format::JsonLines, &fields(), &dir.path().join("v1"), |_| {}).unwrap();
        assert_eq!(ev.rows, 2);
        let again =
            ingest(&dir.path().join("v1/data.parquet"), Format::Parquet, &fields(), &dir.path().join("v2"), |_| {})
                .unwrap();
        assert_eq!(again.rows, 2);
    }
}
