//! Runs every `tests/slt/*.slt` file with sqllogictest, each in a fresh OceanQL session.
//!
//! `${FIXTURES}` in a file is replaced by the generated fixtures directory before it runs, in
//! statements and expected results alike, and `${REAL}` by `shared/data/real`. Values are normalised as
//! DataFusion's own sqllogictest engine does (datafusion/sqllogictest/src/engines/): NULL as
//! `NULL`, floats rounded to 12 decimals without trailing zeros, empty strings as `(empty)`,
//! everything else through Arrow's display (timestamps as `2020-01-01T00:00:00Z`), and one type
//! letter per column (B, D, I, P, R, T, ?), checked strictly.
//!
//! `OCEANQL_SLT=name` runs only the files whose name contains `name`;
//! `OCEANQL_SLT_COMPLETE=1` rewrites the files with the actual results (then read the diff!).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::arrow::util::display::ArrayFormatter;
use datafusion::common::format::DEFAULT_FORMAT_OPTIONS;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{DBOutput, Runner, default_normalizer, default_validator, strict_column_validator};

use crate::common;

/// Column type letters, as DataFusion's sqllogictest engine uses them.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum ColType {
    Boolean,
    DateTime,
    Integer,
    Float,
    Text,
    Timestamp,
    Another,
}

impl sqllogictest::ColumnType for ColType {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'B' => Self::Boolean,
            'D' => Self::DateTime,
            'I' => Self::Integer,
            'P' => Self::Timestamp,
            'R' => Self::Float,
            'T' => Self::Text,
            _ => Self::Another,
        })
    }

    fn to_char(&self) -> char {
        match self {
            Self::Boolean => 'B',
            Self::DateTime => 'D',
            Self::Integer => 'I',
            Self::Timestamp => 'P',
            Self::Float => 'R',
            Self::Text => 'T',
            Self::Another => '?',
        }
    }
}

fn column_type(dt: &DataType) -> ColType {
    match dt {
        DataType::Boolean => ColType::Boolean,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => ColType::Integer,
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => ColType::Float,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColType::Text,
        DataType::Date32 | DataType::Date64 | DataType::Time32(_) | DataType::Time64(_) => ColType::DateTime,
        DataType::Timestamp(..) => ColType::Timestamp,
        DataType::Dictionary(key, value) if key.is_integer() => match value.as_ref() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColType::Text,
            _ => ColType::Another,
        },
        _ => ColType::Another,
    }
}

/// A float rounded to 12 decimals, trailing zeros removed (DataFusion's `big_decimal_to_str`).
fn float_to_str(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let s = format!("{value:.12}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

fn cell_to_string(col: &ArrayRef, row: usize) -> Result<String, DataFusionError> {
    if !col.is_valid(row) {
        return Ok("NULL".to_string());
    }
    Ok(match col.data_type() {
        DataType::Null => "NULL".to_string(),
        DataType::Boolean => col.as_boolean().value(row).to_string(),
        // The shortest decimal that reads back as this f32, then as f64 (as DataFusion does).
        DataType::Float32 => {
            float_to_str(col.as_primitive::<Float32Type>().value(row).to_string().parse::<f64>().unwrap_or(f64::NAN))
        }
        DataType::Float64 => float_to_str(col.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let f = ArrayFormatter::try_new(col.as_ref(), &DEFAULT_FORMAT_OPTIONS)?;
            let s = f.value(row).to_string();
            if s.is_empty() { "(empty)".to_string() } else { s.trim_end_matches('\n').to_string() }
        }
        _ => ArrayFormatter::try_new(col.as_ref(), &DEFAULT_FORMAT_OPTIONS)?.value(row).to_string(),
    })
}

/// Splits a multi-line last cell (EXPLAIN plans) into one row per line, leading spaces as '-'.
fn expand_row(mut row: Vec<String>) -> Vec<Vec<String>> {
    match row.pop() {
        Some(cell) if cell.contains('\n') => {
            let mut rows = vec![row];
            for line in cell.split('\n') {
                let content = line.trim_start();
                rows.push(vec![format!("{}{content}", "-".repeat(line.len() - content.len()))]);
            }
            rows
        }
        Some(cell) => {
            row.push(cell);
            vec![row]
        }
        None => vec![row],
    }
}

/// The engine under test: one OceanQL session.
pub struct OceanQl {
    ctx: SessionContext,
}

impl OceanQl {
    pub fn new() -> Result<Self, DataFusionError> {
        Ok(Self { ctx: oceanql_engine::create_context()? })
    }

    fn convert(&self, batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DataFusionError> {
        let mut rows = vec![];
        for batch in batches {
            for r in 0..batch.num_rows() {
                let row = batch.columns().iter().map(|c| cell_to_string(c, r)).collect::<Result<Vec<_>, _>>()?;
                rows.extend(expand_row(row));
            }
        }
        Ok(rows)
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for OceanQl {
    type Error = DataFusionError;
    type ColumnType = ColType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<ColType>, DataFusionError> {
        let df = self.ctx.sql(sql).await?;
        let types: Vec<ColType> = df.schema().fields().iter().map(|f| column_type(f.data_type())).collect();
        let batches = df.collect().await?;
        let rows = self.convert(&batches)?;
        if rows.is_empty() && types.is_empty() {
            Ok(DBOutput::StatementComplete(0))
        } else {
            Ok(DBOutput::Rows { types, rows })
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "OceanQL"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let filter = std::env::var("OCEANQL_SLT").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&filter)))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt file in {} matches '{filter}'", dir.display());
    files
}

fn runner() -> Runner<OceanQl, impl sqllogictest::MakeConnection<Conn = OceanQl>> {
    let mut runner = Runner::new(|| async { OceanQl::new() });
    runner.with_column_validator(strict_column_validator);
    runner
}

/// `${FIXTURES}`, and `${REAL}` (shared/data/real, looked up only when a file uses it).
fn substitute(text: &str, fixtures: &str) -> String {
    let text = text.replace("${FIXTURES}", fixtures);
    if !text.contains("${REAL}") {
        return text;
    }
    text.replace("${REAL}", &common::real_data().to_string_lossy())
}

/// Rewrites one file with the actual results, keeping `${FIXTURES}` and `${REAL}` in its text.
async fn complete(path: &Path, fixtures: &str) {
    let text = std::fs::read_to_string(path).expect("read slt");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(path.file_name().expect("file name"));
    let uses_real = text.contains("${REAL}");
    std::fs::write(&tmp, substitute(&text, fixtures)).expect("write temp slt");
    runner()
        .update_test_file(&tmp, " ", default_validator, default_normalizer, strict_column_validator)
        .await
        .unwrap_or_else(|e| panic!("completing {}: {e}", path.display()));
    let mut done = std::fs::read_to_string(&tmp).expect("read completed slt").replace(fixtures, "${FIXTURES}");
    if uses_real {
        done = done.replace(common::real_data().to_string_lossy().as_ref(), "${REAL}");
    }
    std::fs::write(path, done).expect("write completed slt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictests() {
    let fixtures = common::fixtures_str();
    let mut failures = vec![];
    for path in slt_files() {
        if std::env::var("OCEANQL_SLT_COMPLETE").is_ok_and(|v| v == "1") {
            complete(&path, &fixtures).await;
            continue;
        }
        let name = path.file_name().expect("file name").to_string_lossy().into_owned();
        let text = substitute(&std::fs::read_to_string(&path).expect("read slt"), &fixtures);
        let records = sqllogictest::parse_with_name::<ColType>(&text, name.clone())
            .unwrap_or_else(|e| panic!("cannot parse {name}: {e}"));
        // A fresh runner, hence a fresh session, per file; keep going after a failed record so
        // that one run reports every failure.
        let mut runner = runner();
        for record in records {
            if let Err(e) = runner.run_async(record).await {
                failures.push(format!("{}", e.display(false)));
            }
        }
    }
    assert!(failures.is_empty(), "{} sqllogictest failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}
