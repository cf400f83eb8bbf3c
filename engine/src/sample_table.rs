//! Swath, along-track and discrete-sampling-geometry products (trajectory,
//! timeSeries, profile) as one SQL table each: one row per sample, with the
//! column conventions of every OceanQL table.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::plan_datafusion_err;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use oceanql_connectors::ArraySource;
use oceanql_connectors::sample::{BlockSummary, CoordNames, Pattern, SampleLayout, SampleVar};

use crate::grid_table::GridFormat;
use crate::sample_scan::SampleScanExec;
use crate::window::{Window, window_pushdown};

/// Samples per block: the unit of pruning (by the block's coordinate bounds) and of reading.
pub const BLOCK_ROWS: usize = 1 << 16;

/// A column of a sample table and where its values come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SampleColumn {
    PlatformId,
    Time,
    Lat,
    Lon,
    /// The vertical coordinate (`depth` or `pressure`).
    Z,
    /// A data variable, by name.
    Var(String),
    Granule,
    /// The index along the k-th sample dimension.
    Index(usize),
}

/// One granule: its layout and the space-time bounds of its blocks.
#[derive(Debug)]
pub struct SampleGranule {
    pub layout: SampleLayout,
    pub blocks: Vec<BlockSummary>,
}

/// All granules of one product, checked to share their columns.
#[derive(Debug)]
pub struct SampleProduct {
    pub format: GridFormat,
    pub pattern: Pattern,
    pub location: String,
    pub granules: Vec<SampleGranule>,
    pub schema: SchemaRef,
    pub columns: Vec<SampleColumn>,
}

impl SampleProduct {
    /// Opens every granule of `paths` as `pattern` and summarises its blocks.
    pub fn open(format: GridFormat, pattern: Pattern, paths: &[String], names: &CoordNames, location: String) -> Result<Self> {
        let mut granules = Vec::with_capacity(paths.len());
        for path in paths {
            let src = format.open_source(path)?;
            let layout = SampleLayout::new(src.as_ref(), pattern, names)?;
            let blocks = layout.summarize(src.as_ref(), BLOCK_ROWS)?;
            granules.push(SampleGranule { layout, blocks });
        }
        for g in &granules[1..] {
            check_compatible(&granules[0].layout, &g.layout)?;
        }
        let layouts: Vec<&SampleLayout> = granules.iter().map(|g| &g.layout).collect();
        let (schema, columns) = product_schema(&layouts)?;
        Ok(SampleProduct { format, pattern, location, granules, schema, columns })
    }

    /// Opens one granule's arrays for reading.
    pub fn open_source(&self, granule: usize) -> Result<Arc<dyn ArraySource>> {
        self.format.open_source(&self.granules[granule].layout.granule)
    }
}

/// The table schema: [platform_id], time, lat, lon, [depth|pressure], variables, granule, indices.
/// The variables are those of every granule (first seen first); a granule
/// without one gives NULLs, so files of one product may differ in variables
/// (Argo floats with and without salinity) but not in a variable's type.
fn product_schema(layouts: &[&SampleLayout]) -> Result<(SchemaRef, Vec<SampleColumn>)> {
    let layout = layouts[0];
    let meta = |v: &SampleVar| -> HashMap<String, String> { v.attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect() };
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    if layout.pattern.is_dsg() {
        let m = layout.platform.as_ref().map(|p| HashMap::from([("source_variable".to_string(), p.name.clone())]));
        fields.push(Field::new("platform_id", DataType::Utf8, true).with_metadata(m.unwrap_or_default()));
        columns.push(SampleColumn::PlatformId);
    }
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let time_meta = layouts.iter().find_map(|l| l.time.as_ref()).map(|t| time_metadata(meta(&t.var), &t.var.name));
    fields.push(Field::new("time", ts, true).with_metadata(time_meta.unwrap_or_default()));
    fields.push(Field::new("lat", DataType::Float64, true).with_metadata(with_source(meta(&layout.lat), &layout.lat.name)));
    fields.push(Field::new("lon", DataType::Float64, true).with_metadata(with_source(meta(&layout.lon), &layout.lon.name)));
    columns.extend([SampleColumn::Time, SampleColumn::Lat, SampleColumn::Lon]);
    if let Some(z) = layouts.iter().find_map(|l| l.z.as_ref()) {
        fields.push(Field::new(z.column, DataType::Float64, true).with_metadata(with_source(meta(&z.var), &z.var.name)));
        columns.push(SampleColumn::Z);
    }
    for (v, _) in union_of_vars(layouts)? {
        fields.push(Field::new(&v.name, v.data_type(), true).with_metadata(meta(v)));
        columns.push(SampleColumn::Var(v.name.clone()));
    }
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    fields.push(Field::new("granule", dict, false));
    columns.push(SampleColumn::Granule);
    for (k, name) in layout.index_names.iter().enumerate() {
        let dim = &layout.dims[k].0;
        fields.push(Field::new(*name, DataType::Int32, false).with_metadata(HashMap::from([("dimension".to_string(), dim.clone())])));
        columns.push(SampleColumn::Index(k));
    }
    Ok((Arc::new(Schema::new(fields)), columns))
}

/// Every granule's variables, first seen first, each with the granule it was first seen in;
/// a variable whose type differs between granules is an error naming both.
fn union_of_vars<'a>(layouts: &[&'a SampleLayout]) -> Result<Vec<(&'a SampleVar, &'a str)>> {
    let mut vars: Vec<(&SampleVar, &str)> = Vec::new();
    for l in layouts {
        for v in &l.vars {
            match vars.iter().find(|(seen, _)| seen.name == v.name) {
                None => vars.push((v, l.granule.as_str())),
                Some((seen, first)) if seen.data_type() != v.data_type() => {
                    return Err(plan_datafusion_err!(
                        "{}: variable '{}' is {}, but {} in {} of the same product",
                        l.granule,
                        v.name,
                        v.data_type(),
                        seen.data_type(),
                        first
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(vars)
}

fn with_source(mut m: HashMap<String, String>, name: &str) -> HashMap<String, String> {
    m.insert("source_variable".into(), name.into());
    m
}

/// Decoded times are UTC timestamps: the CF units no longer apply.
fn time_metadata(mut m: HashMap<String, String>, name: &str) -> HashMap<String, String> {
    if let Some(units) = m.remove("units") {
        m.insert("source_units".into(), units);
    }
    m.remove("calendar");
    with_source(m, name)
}

/// Every granule must have the first one's sample dimensions and vertical column name.
fn check_compatible(first: &SampleLayout, other: &SampleLayout) -> Result<()> {
    let differs = |what: String| {
        plan_datafusion_err!("{}: {what}, unlike the first granule {} of this product", other.granule, first.granule)
    };
    if first.dims.len() != other.dims.len() {
        return Err(differs(format!("has {} sample dimensions, not {}", other.dims.len(), first.dims.len())));
    }
    if let (Some(a), Some(b)) = (&first.z, &other.z)
        && a.column != b.column
    {
        return Err(differs(format!("has a vertical coordinate in {}, not {}", b.column, a.column)));
    }
    Ok(())
}

/// The table provider of a swath, along-track or DSG product.
#[derive(Debug)]
pub struct SampleTable {
    product: Arc<SampleProduct>,
}

impl SampleTable {
    pub fn new(product: SampleProduct) -> Self {
        SampleTable { product: Arc::new(product) }
    }

    pub fn product(&self) -> &Arc<SampleProduct> {
        &self.product
    }
}

#[async_trait]
impl TableProvider for SampleTable {
    fn schema(&self) -> SchemaRef {
        self.product.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Window filters prune blocks but rows still need the filter: Inexact.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(window_pushdown(filters))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let projection = projection.cloned().unwrap_or_else(|| (0..self.product.schema.fields().len()).collect());
        let window = Window::from_filters(filters);
        let partitions = state.config().target_partitions();
        Ok(Arc::new(SampleScanExec::try_new(self.product.clone(), projection, window, limit, partitions)?))
    }
}
