//! Output formats (table, CSV, JSON, Parquet) and the writers that print record batches.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::{ArrayWriter, WriterBuilder};
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;

use crate::error::usage;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned table (the default on a terminal)
    Table,
    /// CSV with a header row (the default when stdout is not a terminal)
    Csv,
    /// One JSON array of objects, NULLs written as null
    Json,
    /// Parquet file (needs -o FILE)
    Parquet,
}

impl Format {
    /// The format a file name implies: `.csv`, `.json`, `.parquet`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// Whether the whole result is held back until the end (a table needs
    /// column widths; Parquet goes to a file).
    pub fn buffers(self) -> bool {
        matches!(self, Format::Table | Format::Parquet)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
        };
        f.write_str(name)
    }
}

impl FromStr for Format {
    type Err = DataFusionError;

    /// Parses the name used by `\format`; Parquet is for `-o FILE` only.
    fn from_str(name: &str) -> Result<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "parquet" => {
                Err(usage("parquet output needs a file: run oceanql with -o FILE, or use COPY (...) TO 'file.parquet'"))
            }
            other => Err(usage(format!("unknown format '{other}': use table, csv or json"))),
        }
    }
}

/// Receives the batches of one result, then writes the end of the output.
pub trait BatchWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Where a writer sends its bytes.
pub type Output = Box<dyn Write + Send>;

/// Settings for the table format.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// Rows to show before cutting the table; `None` shows all.
    pub maxrows: Option<usize>,
    /// Print `(N rows)` under the table.
    pub footer: bool,
}

/// A writer for `format` that prints a result with `schema` to `out`.
pub fn writer(format: Format, schema: SchemaRef, out: Output, table: TableOptions) -> Result<Box<dyn BatchWriter>> {
    Ok(match format {
        Format::Table => Box::new(TableWriter::new(schema, out, table)),
        Format::Csv => {
            Box::new(CsvWriter { schema, rows: 0, inner: csv::WriterBuilder::new().with_header(true).build(out) })
        }
        Format::Json => Box::new(JsonWriter(WriterBuilder::new().with_explicit_nulls(true).build(out))),
        Format::Parquet => Box::new(ParquetWriter(ArrowWriter::try_new(out, schema, None)?)),
    })
}

struct TableWriter {
    schema: SchemaRef,
    out: Output,
    options: TableOptions,
    batches: Vec<RecordBatch>,
    shown: usize,
    total: usize,
}

impl TableWriter {
    fn new(schema: SchemaRef, out: Output, options: TableOptions) -> Self {
        TableWriter { schema, out, options, batches: Vec::new(), shown: 0, total: 0 }
    }

    fn footer(&self) -> Option<String> {
        if self.total > self.shown {
            Some(format!("... {} rows total, first {} shown", self.total, self.shown))
        } else if self.options.footer {
            Some(if self.total == 1 { "(1 row)".to_string() } else { format!("({} rows)", self.total) })
        } else {
            None
        }
    }
}

impl BatchWriter for TableWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.total += batch.num_rows();
        let room = self.options.maxrows.map_or(usize::MAX, |max| max.saturating_sub(self.shown));
        let take = batch.num_rows().min(room);
        if take > 0 {
            self.batches.push(batch.slice(0, take));
            self.shown += take;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let table = pretty_format_batches_with_schema(self.schema.clone(), &self.batches)?;
        writeln!(self.out, "{table}")?;
        if let Some(footer) = self.footer() {
            writeln!(self.out, "{footer}")?;
        }
        self.out.flush()?;
        Ok(())
    }
}

struct CsvWriter {
    schema: SchemaRef,
    rows: usize,
    inner: csv::Writer<Output>,
}

impl BatchWriter for CsvWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows();
        self.inner.write(batch)?;
        Ok(())
    }

    /// An empty result still gets its header row.
    fn finish(mut self: Box<Self>) -> Result<()> {
        if self.rows == 0 {
            self.inner.write(&RecordBatch::new_empty(self.schema.clone()))?;
        }
        let mut out = self.inner.into_inner();
        out.flush()?;
        Ok(())
    }
}

struct JsonWriter(ArrayWriter<Output>);

impl BatchWriter for JsonWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.0.write(batch)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.0.finish()?;
        let mut out = self.0.into_inner();
        writeln!(out)?;
        out.flush()?;
        Ok(())
    }
}

struct ParquetWriter(ArrowWriter<Output>);

impl BatchWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.0.write(batch)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let mut out = self.0.into_inner()?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};

    use super::*;

    /// An output the test can read back after the writer is done.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn batch() -> RecordBatch {
        let name: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("c")]));
        let sst: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.5), Some(2.0), None]));
        RecordBatch::try_from_iter(vec![("name", name), ("sst", sst)]).unwrap()
    }

    fn render(format: Format, batches: &[RecordBatch], table: TableOptions) -> String {
        let out = Shared::default();
        let mut writer = writer(format, batch().schema(), Box::new(out.clone()), table).unwrap();
        for b in batches {
            writer.write(b).unwrap();
        }
        writer.finish().unwrap();
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn csv_has_a_header_even_when_empty() {
        assert_eq!(render(Format::Csv, &[batch()], TableOptions::default()), "name,sst\na,1.5\n,2.0\nc,\n");
        assert_eq!(render(Format::Csv, &[], TableOptions::default()), "name,sst\n");
    }

    #[test]
    fn json_is_one_array_with_nulls() {
        let text = render(Format::Json, &[batch()], TableOptions::default());
        let expected = r#"[{"name":"a","sst":1.5},{"name":null,"sst":2.0},{"name":"c","sst":null}]"#;
        assert_eq!(text.trim_end(), expected);
        assert_eq!(render(Format::Json, &[], TableOptions::default()).trim_end(), "[]");
    }

    #[test]
    fn table_is_cut_at_maxrows() {
        let options = TableOptions { maxrows: Some(2), footer: true };
        let text = render(Format::Table, &[batch(), batch()], options);
        assert_eq!(text.matches("| a ").count(), 1);
        assert!(text.ends_with("... 6 rows total, first 2 shown\n"), "{text}");
    }

    #[test]
    fn table_footer_counts_rows() {
        let options = TableOptions { maxrows: None, footer: true };
        let text = render(Format::Table, &[batch()], options);
        assert!(text.contains("| name | sst |"), "{text}");
        assert!(text.ends_with("(3 rows)\n"), "{text}");
        let quiet = render(Format::Table, &[batch()], TableOptions::default());
        assert!(quiet.ends_with("+\n"), "{quiet}");
    }

    #[test]
    fn format_names() {
        assert_eq!("CSV".parse::<Format>().unwrap(), Format::Csv);
        assert_eq!(" table ".parse::<Format>().unwrap(), Format::Table);
        let err = "xml".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("unknown format 'xml': use table, csv or json"), "{err}");
        let err = "parquet".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("parquet output needs a file"), "{err}");
        assert_eq!(Format::from_path(Path::new("out.PARQUET")), Some(Format::Parquet));
        assert_eq!(Format::from_path(Path::new("out.txt")), None);
    }
}
