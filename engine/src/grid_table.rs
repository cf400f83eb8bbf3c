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
use oceanql_connectors::netcdf_grid::{NetcdfGrid, NetcdfSource};
use oceanql_connectors::sample::{self, CoordNames, Pattern};
use oceanql_connectors::ArraySource;
use oceanql_connectors::zarr_grid::{ZarrGrid, ZarrSource};
use oceanql_connectors::{GridInfo, GridReader, decode, location};

use crate::grid_scan::GridScanExec;
use crate::index::ProductIndex;
use crate::indexing::{self, IndexSetting, ProductSpec};
use crate::provenance::{self, Provenance};
use crate::window::Window;

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

    /// Opens one granule as named arrays (for swath, along-track and DSG products).
    pub fn open_source(self, path: &str) -> Result<Arc<dyn ArraySource>> {
        match self {
            GridFormat::Netcdf => Ok(Arc::new(NetcdfSource::open(path)?)),
            GridFormat::Zarr => Ok(Arc::new(ZarrSource::open(path)?)),
        }
    }

    /// The pattern of a granule: CF `featureType`, else the shape of its coordinates.
    pub fn detect_pattern(self, path: &str) -> Result<Pattern> {
        sample::detect(self.open_source(path)?.as_ref())
    }

    pub fn list_all(self, locations: &[String]) -> Result<Vec<String>> {
        let mut paths = Vec::new();
        for location in locations {
            paths.extend(self.list(location)?);
        }
        Ok(paths)
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
    /// What the product was created from.
    pub spec: ProductSpec,
    /// Its granule and tile index (with statistics when built by `oceanql index`).
    pub index: Arc<ProductIndex>,
}

impl GridProduct {
    /// The product of the index entries `index`: `first` (an opened granule)
    /// gives the grid and the variables, each entry its own time axis.
    pub fn from_index(spec: ProductSpec, first: GridInfo, index: Arc<ProductIndex>) -> Result<Self> {
        let granules = index
            .granules
            .iter()
            .map(|g| GridInfo {
                granule: g.granule.clone(),
                time: g.time_axis.clone().unwrap_or_else(|| vec![i64::MIN]),
                has_time: g.time_axis.is_some(),
                ..first.clone()
            })
            .collect();
        let (schema, columns) = product_schema(&first);
        Ok(GridProduct { format: spec.format, location: spec.location(), granules, schema, columns, spec, index })
    }

    /// The first granule, which defines the grid and the variables.
    pub fn first(&self) -> &GridInfo {
        &self.granules[0]
    }
}

/// Checks that `g` has the grid and the variables of `first`.
pub(crate) fn check_same_grid(first: &GridInfo, g: &GridInfo) -> Result<()> {
    check_granules(&[first.clone(), g.clone()])
}

/// Every granule must have the first one's lat/lon/depth axes and variables.
fn check_granules(granules: &[GridInfo]) -> Result<()> {
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
pub(crate) fn product_schema(info: &GridInfo) -> (SchemaRef, Vec<GridColumn>) {
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

    /// Window and provenance (granule, time_index, ...) filters prune granules and chunks;
    /// rows still need them (Inexact), except ranges of `lat`, `lon`, `depth`: the scan cuts
    /// its slabs to exactly the axis values inside them (Exact, unless an axis has a NaN,
    /// which the window leaves out and a comparison would not).
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        let mut pushdown = provenance::pushdown(filters, &crate::grid_scan::INDEX_NAMES);
        let first = self.product.first();
        let axes = [Some(&first.lat), Some(&first.lon), first.depth.as_ref()];
        if axes.iter().flatten().all(|a| !a.iter().any(|x| x.is_nan())) {
            for (p, f) in pushdown.iter_mut().zip(filters) {
                if crate::window::is_axis_range_filter(f) {
                    *p = TableProviderFilterPushDown::Exact;
                }
            }
        }
        Ok(pushdown)
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
        let provenance = Provenance::from_filters(filters, &crate::grid_scan::INDEX_NAMES);
        let partitions = state.config().target_partitions();
        Ok(Arc::new(GridScanExec::try_new_with(self.product.clone(), projection, window, provenance, limit, partitions)?))
    }
}

/// OPTIONS keys accepted by `STORED AS NETCDF` / `ZARR`.
/// (The storage keys, `aws.*`, are those of `oceanql_connectors::store::STORAGE_OPTIONS`.)
const ACCEPTED_OPTIONS: &[&str] = &[
    "pattern",
    "index",
    "tile_size",
    "time",
    "lat",
    "lon",
    "depth",
    "platform_id",
    "aws.access_key_id",
    "aws.secret_access_key",
    "aws.session_token",
    "aws.region",
    "aws.endpoint",
    "aws.allow_http",
    "aws.skip_signature",
];

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
    async fn create(&self, state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let mut options = cmd.options.clone();
        // s3:// LOCATIONs: credentials and endpoint from the storage OPTIONS (removed here) or AWS_* variables.
        oceanql_connectors::store::register(state, &cmd.locations, &mut options)
            .map_err(|e| plan_datafusion_err!("CREATE EXTERNAL TABLE {}: {}", cmd.name, e.message()))?;
        // DataFusion's SQL planner turns a bare OPTIONS key `pattern` into `format.pattern`.
        let mut options: HashMap<String, String> =
            options.into_iter().map(|(k, v)| (k.strip_prefix("format.").map(str::to_string).unwrap_or(k), v)).collect();
        let pattern = match options.remove("pattern") {
            Some(p) => Some(Pattern::parse(&p).ok_or_else(|| {
                plan_datafusion_err!("CREATE EXTERNAL TABLE {}: unknown pattern '{p}' (one of {})", cmd.name, sample::pattern_names())
            })?),
            None => None,
        };
        let index = match options.remove("index").as_deref().map(str::trim) {
            None | Some("") => IndexSetting::Beside,
            Some(v) if v.eq_ignore_ascii_case("none") || v.eq_ignore_ascii_case("off") => IndexSetting::Off,
            Some(dir) => IndexSetting::At(dir.trim_end_matches('/').to_string()),
        };
        let tile_size = match options.remove("tile_size") {
            None => None,
            Some(text) => Some(parse_tile_size(&text).ok_or_else(|| {
                plan_datafusion_err!("CREATE EXTERNAL TABLE {}: OPTIONS 'tile_size' is LINESxCELLS (e.g. '64x64'), not '{text}'", cmd.name)
            })?),
        };
        let names = CoordNames {
            time: options.remove("time"),
            lat: options.remove("lat"),
            lon: options.remove("lon"),
            depth: options.remove("depth"),
            platform_id: options.remove("platform_id"),
        };
        if let Some(key) = options.keys().next() {
            return plan_err!(
                "CREATE EXTERNAL TABLE {}: unknown option '{key}' for STORED AS {} (accepted: {})",
                cmd.name,
                self.format.name().to_uppercase(),
                ACCEPTED_OPTIONS.join(", ")
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
        let spec = ProductSpec { format: self.format, pattern, locations: cmd.locations.clone(), names, index, tile_size };
        if state.config().get_extension::<indexing::RegisterOnly>().is_some() {
            return Ok(Arc::new(indexing::SpecOnly { spec }));
        }
        tokio::task::spawn_blocking(move || indexing::open_product(&spec))
            .await
            .map_err(|e| plan_datafusion_err!("opening {}: {e}", cmd.locations.join(", ")))?
    }
}

/// `'64x32'` -> (64, 32); both at least 1.
fn parse_tile_size(text: &str) -> Option<(usize, usize)> {
    let (a, b) = text.trim().split_once(['x', 'X'])?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a > 0 && b > 0).then_some((a, b))
}
