//! Gridded products (NetCDF files, Zarr stores) as one SQL table each:
//! `CREATE EXTERNAL TABLE sst STORED AS NETCDF LOCATION 'dir/*.nc'`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{CreateExternalTable, Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use oceanql_connectors::netcdf_grid::NetcdfGrid;
use oceanql_connectors::zarr_grid::ZarrGrid;
use oceanql_connectors::{GridInfo, GridReader, decode, location};

use crate::grid_scan::GridScanExec;
use crate::window::{Window, is_window_filter};

/// The storage formats of gridded products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridFormat {
    Netcdf,
    Zarr,
}

impl GridFormat {
    pub fn name(self) -> &'static str {
        match self {
            GridFormat::Netcdf => "netcdf",
            GridFormat::Zarr => "zarr",
        }
    }

    /// Opens one granule with this format's reader.
    pub fn open(self, path: &str) -> Result<Arc<dyn GridReader>> {
        Ok(match self {
            GridFormat::Netcdf => Arc::new(NetcdfGrid::open(path)?),
            GridFormat::Zarr => Arc::new(ZarrGrid::open(path)?),
        })
    }

    fn list(self, location: &str) -> Result<Vec<String>> {
        match self {
            GridFormat::Netcdf => location::expand(location, &["nc", "nc4", "netcdf", "cdf", "h5"], false),
            GridFormat::Zarr => location::expand(location, &["zarr"], true),
        }
    }
}

/// A column of a gridded table and where its values come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridColumn {
    Time,
    Depth,
    Lat,
    Lon,
    /// A data variable: index into [`GridInfo::vars`].
    Var(usize),
    Granule,
    TimeIndex,
    DepthIndex,
    LatIndex,
    LonIndex,
}

/// All granules of one gridded product, checked to share one grid.
#[derive(Debug)]
pub struct GridProduct {
    pub format: GridFormat,
    pub location: String,
    pub granules: Vec<GridInfo>,
    pub schema: SchemaRef,
    /// What each schema column is, in schema order.
    pub columns: Vec<GridColumn>,
}

impl GridProduct {
    /// Lists and opens every granule of `location`, checking that they share a grid.
    pub fn open(format: GridFormat, locations: &[String]) -> Result<Self> {
        let mut paths = Vec::new();
        for location in locations {
            paths.extend(format.list(location)?);
        }
        let mut granules = Vec::with_capacity(paths.len());
        for path in &paths {
            let reader = format.open(path)?;
            granules.push(reader.info().clone());
        }
        check_same_grid(&granules)?;
        let (schema, columns) = product_schema(&granules[0]);
        Ok(GridProduct { format, location: locations.join(", "), granules, schema, columns })
    }

    /// The first granule, which defines the grid and the variables.
    pub fn first(&self) -> &GridInfo {
        &self.granules[0]
    }
}

/// Every granule must have the first one's lat/lon/depth axes and variables.
fn check_same_grid(granules: &[GridInfo]) -> Result<()> {
    let first = &granules[0];
    for g in &granules[1..] {
        let differs = |what: &str, a: usize, b: usize| {
            plan_datafusion_err!(
                "{}: grid differs from the first granule {} of this product: {what} has {b} values, expected {a}",
                g.granule,
                first.granule
            )
        };
        if g.lat.len() != first.lat.len() {
            return Err(differs("lat", first.lat.len(), g.lat.len()));
        }
        if g.lon.len() != first.lon.len() {
            return Err(differs("lon", first.lon.len(), g.lon.len()));
        }
        let depth_len = |i: &GridInfo| i.depth.as_ref().map_or(0, Vec::len);
        if depth_len(g) != depth_len(first) {
            return Err(differs("depth", depth_len(first), depth_len(g)));
        }
        let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(1.0));
        let same_depth = match (&g.depth, &first.depth) {
            (Some(a), Some(b)) => same(a, b),
            _ => true,
        };
        if !same(&g.lat, &first.lat) || !same(&g.lon, &first.lon) || !same_depth {
            return Err(plan_datafusion_err!(
                "{}: grid differs from the first granule {} of this product: same shape but different coordinate values",
                g.granule,
                first.granule
            ));
        }
        if g.has_time != first.has_time {
            return Err(plan_datafusion_err!("{}: has no time axis but {} has (or the reverse)", g.granule, first.granule));
        }
        for v in &first.vars {
            let Some(other) = g.var(&v.name) else {
                return Err(plan_datafusion_err!("{}: variable '{}' is missing (it is in {})", g.granule, v.name, first.granule));
            };
            if decode::output_type(other) != decode::output_type(v) || other.dims != v.dims {
                return Err(plan_datafusion_err!(
                    "{}: variable '{}' has another type or dimensions than in {}",
                    g.granule,
                    v.name,
                    first.granule
                ));
            }
        }
    }
    Ok(())
}

/// The table schema of a product: coordinates, variables, provenance.
fn product_schema(info: &GridInfo) -> (SchemaRef, Vec<GridColumn>) {
    let meta = |key: &str| -> HashMap<String, String> {
        info.coord_attrs.get(key).map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    };
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![Field::new("time", ts, !info.has_time).with_metadata(without_time_units(meta("time")))];
    let mut columns = vec![GridColumn::Time];
    if info.depth.is_some() {
        fields.push(Field::new("depth", DataType::Float64, false).with_metadata(meta("depth")));
        columns.push(GridColumn::Depth);
    }
    fields.push(Field::new("lat", DataType::Float64, false).with_metadata(meta("lat")));
    fields.push(Field::new("lon", DataType::Float64, false).with_metadata(meta("lon")));
    columns.extend([GridColumn::Lat, GridColumn::Lon]);
    let reserved = ["time", "depth", "lat", "lon", "granule", "time_index", "depth_index", "lat_index", "lon_index"];
    for (i, v) in info.vars.iter().enumerate() {
        if reserved.contains(&v.name.as_str()) {
            continue;
        }
        fields.push(decode::output_field(v));
        columns.push(GridColumn::Var(i));
    }
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    fields.push(Field::new("granule", dict, false));
    fields.push(Field::new("time_index", DataType::Int32, false));
    columns.extend([GridColumn::Granule, GridColumn::TimeIndex]);
    if info.depth.is_some() {
        fields.push(Field::new("depth_index", DataType::Int32, false));
        columns.push(GridColumn::DepthIndex);
    }
    fields.push(Field::new("lat_index", DataType::Int32, false));
    fields.push(Field::new("lon_index", DataType::Int32, false));
    columns.extend([GridColumn::LatIndex, GridColumn::LonIndex]);
    (Arc::new(Schema::new(fields)), columns)
}

/// Decoded times are UTC timestamps: the CF "days since ..." units no longer apply.
fn without_time_units(mut m: HashMap<String, String>) -> HashMap<String, String> {
    if let Some(units) = m.remove("units") {
        m.insert("source_units".into(), units);
    }
    m.remove("calendar");
    m
}

/// The table provider of a gridded product.
#[derive(Debug)]
pub struct GridTable {
    product: Arc<GridProduct>,
}

impl GridTable {
    pub fn new(product: GridProduct) -> Self {
        GridTable { product: Arc::new(product) }
    }

    pub fn product(&self) -> &Arc<GridProduct> {
        &self.product
    }
}

#[async_trait]
impl TableProvider for GridTable {
    fn schema(&self) -> SchemaRef {
        self.product.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Window filters prune granules and chunks but rows still need the filter: Inexact.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if is_window_filter(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
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
        Ok(Arc::new(GridScanExec::try_new(self.product.clone(), projection, window, limit, partitions)?))
    }
}

/// `STORED AS NETCDF` / `STORED AS ZARR`.
#[derive(Debug)]
pub struct GridTableFactory {
    format: GridFormat,
}

impl GridTableFactory {
    pub fn new(format: GridFormat) -> Self {
        GridTableFactory { format }
    }
}

#[async_trait]
impl TableProviderFactory for GridTableFactory {
    async fn create(&self, _state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        if let Some(key) = cmd.options.keys().next() {
            return plan_err!(
                "CREATE EXTERNAL TABLE {}: unknown option '{key}' for STORED AS {} (this format takes no options yet)",
                cmd.name,
                self.format.name().to_uppercase()
            );
        }
        if !cmd.schema.fields().is_empty() {
            return plan_err!(
                "CREATE EXTERNAL TABLE {}: column definitions are not accepted for STORED AS {}: the columns come from the files",
                cmd.name,
                self.format.name().to_uppercase()
            );
        }
        if !cmd.table_partition_cols.is_empty() {
            return plan_err!("CREATE EXTERNAL TABLE {}: PARTITIONED BY is not supported for gridded products", cmd.name);
        }
        let format = self.format;
        let locations = cmd.locations.clone();
        let product = tokio::task::spawn_blocking(move || GridProduct::open(format, &locations))
            .await
            .map_err(|e| plan_datafusion_err!("opening {}: {e}", cmd.locations.join(", ")))??;
        Ok(Arc::new(GridTable::new(product)))
    }
}
