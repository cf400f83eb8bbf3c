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
use oceanql_connectors::sample::{Pattern, SampleLayout, SampleVar};

use crate::grid_table::GridFormat;
use crate::index::{IndexedGranule, ProductIndex};
use crate::indexing::ProductSpec;
use crate::sample_scan::SampleScanExec;
use crate::provenance::{self, Provenance};
use crate::window::Window;

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

/// All granules of one product, checked to share their columns.
#[derive(Debug)]
pub struct SampleProduct {
    pub format: GridFormat,
    pub pattern: Pattern,
    pub location: String,
    pub schema: SchemaRef,
    pub columns: Vec<SampleColumn>,
    /// What the product was created from.
    pub spec: ProductSpec,
    /// Its granules and their tiles (the blocks a scan reads), with statistics
    /// when built by `oceanql index`.
    pub index: Arc<ProductIndex>,
}

impl SampleProduct {
    /// The product of the index entries `index`; granules are opened when a scan reads them.
    pub fn from_index(spec: ProductSpec, index: Arc<ProductIndex>) -> Result<Self> {
        let columns = columns_from_schema(&index.schema);
        Ok(SampleProduct {
            format: spec.format,
            pattern: index.pattern,
            location: spec.location(),
            schema: index.schema.clone(),
            columns,
            spec,
            index,
        })
    }

    pub fn granules(&self) -> &[IndexedGranule] {
        &self.index.granules
    }

    /// Opens one granule's arrays and recognises its layout, for reading.
    pub fn open(&self, granule: usize) -> Result<(Arc<dyn ArraySource>, SampleLayout)> {
        let src = self.format.open_source(&self.index.granules[granule].granule)?;
        let layout = SampleLayout::new(src.as_ref(), self.pattern, &self.spec.names)?;
        Ok((src, layout))
    }
}

/// What each column of a sample product's schema is, from the column names
/// (the conventions of [`product_schema`]).
fn columns_from_schema(schema: &Schema) -> Vec<SampleColumn> {
    let mut index = 0;
    schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "platform_id" => SampleColumn::PlatformId,
            "time" => SampleColumn::Time,
            "lat" => SampleColumn::Lat,
            "lon" => SampleColumn::Lon,
            "granule" => SampleColumn::Granule,
            "depth" | "pressure" if f.metadata().contains_key("source_variable") => SampleColumn::Z,
            _ if f.metadata().contains_key("dimension") && f.data_type() == &DataType::Int32 && !f.is_nullable() => {
                index += 1;
                SampleColumn::Index(index - 1)
            }
            name => SampleColumn::Var(name.to_string()),
        })
        .collect()
}

/// The schema of a product whose stored index has `stored` and whose
/// granules opened now have `layouts`: the stored columns plus the variables
/// only the opened granules have (a type conflict is an error).
pub(crate) fn merged_schema(stored: Option<&SchemaRef>, layouts: &[&SampleLayout]) -> Result<SchemaRef> {
    let Some(stored) = stored else {
        return Ok(product_schema(layouts)?.0);
    };
    if layouts.is_empty() {
        return Ok(stored.clone());
    }
    let fresh = product_schema(layouts)?.0;
    let mut fields: Vec<Field> = stored.fields().iter().map(|f| f.as_ref().clone()).collect();
    let at = fields.iter().position(|f| f.name() == "granule").unwrap_or(fields.len());
    let mut added = 0;
    for (f, c) in fresh.fields().iter().zip(columns_from_schema(&fresh)) {
        match stored.field_with_name(f.name()) {
            Ok(old) if old.data_type() != f.data_type() && matches!(c, SampleColumn::Var(_)) => {
                return Err(plan_datafusion_err!(
                    "variable '{}' is {} in {}, but {} in the product's index",
                    f.name(),
                    f.data_type(),
                    layouts[0].granule,
                    old.data_type()
                ));
            }
            Ok(_) => {}
            Err(_) if matches!(c, SampleColumn::Var(_)) => {
                fields.insert(at + added, f.as_ref().clone());
                added += 1;
            }
            Err(_) => {}
        }
    }
    Ok(Arc::new(Schema::new(fields)))
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
pub(crate) fn check_compatible(first: &SampleLayout, other: &SampleLayout) -> Result<()> {
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

    /// Window and provenance (granule, row, cell, ...) filters prune blocks but rows still need the filter: Inexact.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        let names = crate::sample_scan::index_names(&self.product);
        Ok(provenance::pushdown(filters, &names.iter().map(String::as_str).collect::<Vec<_>>()))
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
        let names = crate::sample_scan::index_names(&self.product);
        let provenance = Provenance::from_filters(filters, &names.iter().map(String::as_str).collect::<Vec<_>>());
        let partitions = state.config().target_partitions();
        Ok(Arc::new(SampleScanExec::try_new_with(self.product.clone(), projection, window, provenance, limit, partitions)?))
    }
}
