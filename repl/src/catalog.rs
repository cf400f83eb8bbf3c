//! Tables, columns and functions of the live session: record batches for `\d`/`\df`, words for completion.

use std::sync::{Arc, Weak};

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::ListingTable;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use crate::remote::RemoteTable;

/// Field metadata keys shown by `\d NAME`, in column order.
const METADATA_KEYS: [&str; 3] = ["units", "standard_name", "long_name"];

/// A registered table under the name a query would use for it.
pub struct Table {
    pub name: String,
    pub provider: Arc<dyn TableProvider>,
}

/// Every table in every catalog and schema, except `information_schema`,
/// sorted by name. Tables of the default schema go by their bare name.
pub async fn tables(ctx: &SessionContext) -> Result<Vec<Table>> {
    let options = ctx.state().config_options().catalog.clone();
    let mut found = Vec::new();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else { continue };
        for schema_name in catalog.schema_names() {
            let Some(schema) = catalog.schema(&schema_name) else { continue };
            if schema_name == "information_schema" {
                continue;
            }
            for table_name in schema.table_names() {
                let Some(provider) = schema.table(&table_name).await? else { continue };
                let name = match (catalog_name == options.default_catalog, schema_name == options.default_schema) {
                    (true, true) => table_name,
                    (true, false) => format!("{schema_name}.{table_name}"),
                    _ => format!("{catalog_name}.{schema_name}.{table_name}"),
                };
                found.push(Table { name, provider });
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Format and location of the tables this session created with `CREATE
/// EXTERNAL TABLE`, for providers that do not tell (NetCDF, Zarr).
#[derive(Debug, Default)]
pub struct Sources(Vec<(Weak<dyn TableProvider>, String, String)>);

impl Sources {
    pub fn add(&mut self, provider: &Arc<dyn TableProvider>, format: &str, location: &str) {
        self.0.retain(|(weak, _, _)| weak.strong_count() > 0);
        self.0.push((Arc::downgrade(provider), format.to_lowercase(), location.to_string()));
    }

    /// (format, location) of `table`: a listing table tells, others were recorded.
    fn find(&self, table: &Table) -> (Option<String>, Option<String>) {
        if let Some(listing) = table.provider.downcast_ref::<ListingTable>() {
            return (Some(listing.options().format.get_ext()), Some(location(listing)));
        }
        let target = Arc::downgrade(&table.provider);
        match self.0.iter().find(|(weak, _, _)| weak.ptr_eq(&target)) {
            Some((_, format, location)) => (Some(format.clone()), Some(location.clone())),
            None => (None, None),
        }
    }
}

/// `\d`: one row per table: name, type, pattern, format, location, column count.
pub async fn list_tables(ctx: &SessionContext, sources: &Sources) -> Result<RecordBatch> {
    let tables = tables(ctx).await?;
    let kinds = tables.iter().map(|t| Some(kind(t.provider.table_type())));
    let (formats, locations): (Vec<_>, Vec<_>) = tables.iter().map(|t| sources.find(t)).unzip();
    let columns = tables.iter().map(|t| t.provider.schema().fields().len() as u64);
    let patterns = tables.iter().map(|t| oceanql_engine::table_pattern(&t.provider).map(|(p, _)| p.to_string()));
    batch(vec![
        ("name", strings(tables.iter().map(|t| Some(t.name.clone())))),
        ("type", strings(kinds)),
        ("pattern", strings(patterns)),
        ("format", strings(formats.into_iter())),
        ("location", strings(locations.into_iter())),
        ("columns", Arc::new(UInt64Array::from_iter_values(columns))),
    ])
}

/// One line about a table for `\d NAME`: its pattern and granule count, when OceanQL reads it.
pub async fn table_summary(ctx: &SessionContext, name: &str) -> Result<Option<String>> {
    let provider = ctx.table_provider(name).await?;
    Ok(oceanql_engine::table_pattern(&provider).map(|(pattern, granules)| {
        let mut line = format!("Table {name}: {pattern} product, {granules} granule{}", if granules == 1 { "" } else { "s" });
        if let Some(index) = oceanql_engine::product_index(&provider) {
            let tiles: usize = index.granules.iter().map(|g| g.tiles.len()).sum();
            let with_stats = index.granules.iter().filter(|g| g.has_stats).count();
            line.push_str(&format!(", {tiles} tiles; tile statistics for {with_stats} of {granules} granules"));
            if with_stats < granules {
                line.push_str(" (oceanql index adds them)");
            }
        }
        line
    }))
}

/// `\d NAME`: one row per column: name, type, nullable, units, standard_name, long_name.
pub async fn describe_table(ctx: &SessionContext, name: &str) -> Result<RecordBatch> {
    describe_schema(&ctx.table_provider(name).await?.schema())
}

/// The rows of `\d NAME` for a table with columns `schema`.
pub fn describe_schema(schema: &Schema) -> Result<RecordBatch> {
    let fields = schema.fields();
    let mut columns = vec![
        ("column", strings(fields.iter().map(|f| Some(f.name().clone())))),
        ("type", strings(fields.iter().map(|f| Some(f.data_type().to_string())))),
        ("nullable", Arc::new(fields.iter().map(|f| Some(f.is_nullable())).collect::<BooleanArray>()) as ArrayRef),
    ];
    for key in METADATA_KEYS {
        columns.push((key, strings(fields.iter().map(|f| f.metadata().get(key).cloned()))));
    }
    batch(columns)
}

/// `\df [PATTERN]`: one row per function: name, kind, first line of its documentation.
pub fn list_functions(ctx: &SessionContext, pattern: Option<&str>) -> Result<RecordBatch> {
    let rows = functions(ctx).into_iter().map(|(name, kind, doc)| (name, kind.to_string(), doc)).collect();
    functions_batch(rows, pattern)
}

/// `\d` on a server (`--connect`): name, type and column count of each table.
pub fn list_remote_tables(tables: &[RemoteTable]) -> Result<RecordBatch> {
    batch(vec![
        ("name", strings(tables.iter().map(|t| Some(t.name.clone())))),
        ("type", strings(tables.iter().map(|t| Some(t.kind.clone())))),
        ("columns", Arc::new(UInt64Array::from_iter_values(tables.iter().map(|t| t.schema.fields().len() as u64)))),
    ])
}

/// `\df [PATTERN]` on a server: its functions (one row per name), described by the server's
/// documentation, or by this binary's for the functions the server does not document.
pub fn list_remote_functions(rows: Vec<(String, String, Option<String>)>, pattern: Option<&str>) -> Result<RecordBatch> {
    let mut rows: Vec<_> = rows
        .into_iter()
        .map(|(name, kind, doc)| {
            let doc = doc.map(|d| summary(&d)).or_else(|| local_description(&name));
            (name, kind, doc)
        })
        .collect();
    rows.sort();
    rows.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    functions_batch(rows, pattern)
}

/// Table, column and function names of a server, for completion.
pub fn remote_completion_words(tables: &[RemoteTable], functions: &[String]) -> Vec<String> {
    let mut words: Vec<String> = functions.to_vec();
    for table in tables {
        words.extend(table.schema.fields().iter().map(|f| f.name().clone()));
        words.push(table.name.clone());
    }
    words.sort();
    words.dedup();
    words
}

/// What this binary says of a function whose documentation DataFusion does not carry
/// (async and table functions).
fn local_description(name: &str) -> Option<String> {
    oceanql_engine::async_function_documentation(name)
        .map(|d| summary(&d.description))
        .or_else(|| oceanql_engine::index_functions::description(name).map(String::from))
}

fn functions_batch(mut rows: Vec<(String, String, Option<String>)>, pattern: Option<&str>) -> Result<RecordBatch> {
    rows.retain(|(name, _, _)| pattern.is_none_or(|p| matches(p, name)));
    batch(vec![
        ("name", strings(rows.iter().map(|(name, _, _)| Some(name.clone())))),
        ("kind", strings(rows.iter().map(|(_, kind, _)| Some(kind.clone())))),
        ("description", strings(rows.iter().map(|(_, _, doc)| doc.clone()))),
    ])
}

/// Table, column and function names, sorted and without duplicates, for completion.
pub async fn completion_words(ctx: &SessionContext) -> Result<Vec<String>> {
    let mut words = Vec::new();
    for table in tables(ctx).await? {
        words.extend(table.provider.schema().fields().iter().map(|f| f.name().clone()));
        words.push(table.name);
    }
    words.extend(functions(ctx).into_iter().map(|(name, _, _)| name));
    words.sort();
    words.dedup();
    Ok(words)
}

/// (name, kind, summary) of every function the session can call, sorted by name.
fn functions(ctx: &SessionContext) -> Vec<(String, &'static str, Option<String>)> {
    let state = ctx.state();
    let mut rows = Vec::new();
    for (name, f) in state.scalar_functions() {
        let doc = f.documentation().or_else(|| oceanql_engine::async_function_documentation(name));
        rows.push((name.clone(), "scalar", doc.map(|d| summary(&d.description))));
    }
    for (name, f) in state.aggregate_functions() {
        rows.push((name.clone(), "aggregate", f.documentation().map(|d| summary(&d.description))));
    }
    for (name, f) in state.window_functions() {
        rows.push((name.clone(), "window", f.documentation().map(|d| summary(&d.description))));
    }
    for name in state.table_functions().keys() {
        rows.push((name.clone(), "table", oceanql_engine::index_functions::description(name).map(String::from)));
    }
    rows.sort();
    rows
}

/// The first sentence of a description's first line, so that `\df` stays one line per function.
fn summary(description: &str) -> String {
    let line = description.trim().lines().next().unwrap_or_default().trim();
    let sentence = match line.find(". ") {
        Some(end) => &line[..=end],
        None => line,
    };
    sentence.to_string()
}

/// Case-insensitive match of a `\df` pattern: a substring, or a glob when it
/// contains `*` (`st_*`, `*_km`).
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.to_lowercase();
    let name = name.to_lowercase();
    if !pattern.contains('*') {
        return name.contains(&pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn kind(table_type: TableType) -> String {
    match table_type {
        TableType::Base => "table",
        TableType::View => "view",
        TableType::Temporary => "temporary",
    }
    .to_string()
}

fn location(table: &ListingTable) -> String {
    table.table_paths().iter().map(|url| url.as_str().to_string()).collect::<Vec<_>>().join(", ")
}

fn strings(values: impl Iterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns.iter().map(|(name, a)| Field::new(*name, a.data_type().clone(), true)).collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn summary_is_the_first_sentence() {
        assert_eq!(super::summary("Snaps a value. Cells are aligned.\nMore."), "Snaps a value.");
        assert_eq!(super::summary("Returns pi"), "Returns pi");
    }

    use std::collections::HashMap;

    use datafusion::arrow::datatypes::DataType;
    use datafusion::datasource::MemTable;

    use super::*;

    fn context_with_sst() -> SessionContext {
        let ctx = SessionContext::new();
        let units = HashMap::from([("units".to_string(), "K".to_string())]);
        let schema = Schema::new(vec![
            Field::new("lat", DataType::Float64, false),
            Field::new("sst", DataType::Float32, true).with_metadata(units),
        ]);
        let table = MemTable::try_new(Arc::new(schema), vec![vec![]]).unwrap();
        ctx.register_table("sst", Arc::new(table)).unwrap();
        ctx
    }

    #[tokio::test]
    async fn lists_and_describes_tables() {
        let ctx = context_with_sst();
        let mut sources = Sources::default();
        let tables = list_tables(&ctx, &sources).await.unwrap();
        assert_eq!(tables.num_rows(), 1);
        sources.add(&ctx.table_provider("sst").await.unwrap(), "NETCDF", "/data/sst/");
        let tables = list_tables(&ctx, &sources).await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&[tables]).unwrap().to_string();
        assert!(text.contains("| sst  | table |         | netcdf | /data/sst/ | 2       |"), "{text}");
        let described = describe_table(&ctx, "sst").await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&[described]).unwrap().to_string();
        assert!(text.contains("| sst    | Float32 | true     | K     |"), "{text}");
        let err = describe_table(&ctx, "nope").await.unwrap_err().to_string();
        assert!(err.contains("No table named 'nope'"), "{err}");
    }

    #[tokio::test]
    async fn words_include_tables_columns_and_functions() {
        let words = completion_words(&context_with_sst()).await.unwrap();
        for word in ["sst", "lat", "abs", "avg", "range"] {
            assert!(words.contains(&word.to_string()), "missing {word}");
        }
    }

    #[test]
    fn lists_documented_functions() {
        let ctx = SessionContext::new();
        let batch = list_functions(&ctx, Some("ABS")).unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&[batch]).unwrap().to_string();
        assert!(text.contains("| abs "), "{text}");
        assert!(text.contains("absolute value"), "{text}");
    }

    #[test]
    fn patterns() {
        assert!(matches("sin", "asinh"));
        assert!(matches("st_*", "ST_Point"));
        assert!(matches("*_km", "haversine_km"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxcyyb"));
        assert!(!matches("st_*", "cast"));
        assert!(matches("*", "anything"));
    }
}
