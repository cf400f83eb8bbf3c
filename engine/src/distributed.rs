//! Distributed execution with datafusion-distributed: the codec that ships OceanQL's plan
//! nodes to workers, and the planner hooks that split a scan's granules/chunks into tasks.
//!
//! A scan is encoded as what its table was created from (the [`ProductSpec`]: format,
//! LOCATIONs, options), its projection and limit, and the units of work (slabs, blocks) of
//! each partition; a worker reopens the product (once, cached) through the same code the
//! coordinator used, and checks that it sees the same granules. Nodes that need the
//! coordinator's session (`anomaly()`/`interp()` read tables by name; the colocate join
//! feeds its probe scan in memory) are kept in one task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::{exec_datafusion_err, internal_err};
use datafusion::error::Result;
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::async_func::AsyncFuncExec;
use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion_distributed::grpc::DefaultChannelResolver;
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, ExecuteTaskRequest, GetWorkerInfoRequest, GetWorkerInfoResponse,
    SetPlanRequest, WorkerChannel, WorkerToCoordinatorMsg,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedExt, DistributedLeafExec, ScaleUpLeafNodeEvent,
    ScaleUpLeafNodeEventResponse, SessionStateBuilderExt, WorkerResolver,
};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use oceanql_connectors::sample::{CoordNames, Pattern};
use serde_json::{Value, json};
use url::Url;
use http::HeaderMap;

use crate::bin_aggregate::BinAggregateExec;
use crate::colocate_join::ColocateJoinExec;
use crate::grid_scan::GridScanExec;
use crate::grid_table::{GridFormat, GridTable};
use crate::indexing::{IndexSetting, ProductSpec};
use crate::insitu_table::InsituScanExec;
use crate::window::{Interval, Ranges, Window};
use crate::sample_scan::SampleScanExec;
use crate::sample_table::SampleTable;
use crate::stats_aggregate::TileStatsAggregateExec;

/// A scan whose units of work (slabs, blocks) can be dealt to the tasks of a stage.
pub trait SplitScan {
    /// Units of work in all partitions.
    fn unit_count(&self) -> usize;
    /// The scan of the `task`-th of `tasks` contiguous shares of the units, with the same
    /// number of partitions as this scan.
    fn task_variant(&self, task: usize, tasks: usize) -> Result<Arc<dyn ExecutionPlan>>;
}

fn split_scan(plan: &dyn ExecutionPlan) -> Option<&dyn SplitScan> {
    if let Some(s) = plan.downcast_ref::<GridScanExec>() {
        return Some(s);
    }
    if let Some(s) = plan.downcast_ref::<InsituScanExec>() {
        return Some(s);
    }
    plan.downcast_ref::<SampleScanExec>().map(|s| s as &dyn SplitScan)
}

/// The `task`-th of `tasks` contiguous shares of `units` (so that a task reads few granules).
pub fn task_share<U: Clone>(units: &[U], task: usize, tasks: usize) -> Vec<U> {
    let per = units.len().div_ceil(tasks.max(1)).max(1);
    units.chunks(per).nth(task).map(<[U]>::to_vec).unwrap_or_default()
}

/// `parts` padded with empty partitions to `n`.
pub fn pad_partitions<U>(mut parts: Vec<Arc<Vec<U>>>, n: usize) -> Vec<Arc<Vec<U>>> {
    parts.retain(|p| !p.is_empty());
    while parts.len() < n {
        parts.push(Arc::new(Vec::new()));
    }
    parts
}

/// Marks the first unit of each granule in `units` (each task counts the granules it opens).
pub fn mark_first_of_granule<U: crate::near::ScanUnit>(units: &mut [U]) {
    let mut seen = std::collections::HashSet::new();
    for u in units {
        u.set_first_of_granule(seen.insert(u.granule()));
    }
}

/// Planner hook: a scan wants as many tasks as it has units per partition (the planner
/// caps this at the number of workers); nodes that must stay with the coordinator's
/// session get one task.
fn desired_task_count(ev: DesiredTaskCountEvent) -> Option<Result<DesiredTaskCountEventResponse>> {
    let plan = ev.plan;
    if let Some(scan) = split_scan(plan.as_ref()) {
        let partitions = plan.properties().partitioning.partition_count().max(1);
        return Some(Ok(DesiredTaskCountEventResponse::desired(scan.unit_count().div_ceil(partitions).max(1))));
    }
    let local = plan.is::<AsyncFuncExec>() || plan.is::<ColocateJoinExec>();
    local.then(|| Ok(DesiredTaskCountEventResponse::maximum(1)))
}

/// Planner hook: a scan run by several tasks becomes one variant per task, each with its
/// share of the units.
fn scale_up_leaf(ev: ScaleUpLeafNodeEvent) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
    let scan = split_scan(ev.plan.as_ref())?;
    if ev.task_count <= 1 {
        return None;
    }
    let variants: Result<Vec<_>> = (0..ev.task_count).map(|t| scan.task_variant(t, ev.task_count)).collect();
    Some(variants.and_then(|v| {
        let leaf = DistributedLeafExec::try_new(Arc::clone(ev.plan), v)?;
        Ok(ScaleUpLeafNodeEventResponse::new(Arc::new(leaf)))
    }))
}

/// The coordinator's session: the distributed planner over `resolver`'s workers, with the
/// codec and the scan-splitting hooks.
pub fn coordinator(builder: SessionStateBuilder, resolver: Arc<dyn WorkerResolver>) -> SessionStateBuilder {
    builder
        .with_distributed_worker_resolver(resolver)
        .with_distributed_planner()
        .with_distributed_user_codec(OceanCodec)
        .with_distributed_channel_resolver(NamedChannels::default())
        .with_distributed_desired_task_count_handler(desired_task_count)
        .with_distributed_scale_up_leaf_node_handler(scale_up_leaf)
}

/// The address of the worker a task runs on (a session extension on workers).
#[derive(Debug)]
pub struct WorkerAddress(pub String);

/// Counts `partition` of a scan in the metric `worker@ADDRESS` when it runs on a worker, so
/// that EXPLAIN ANALYZE shows where each task ran.
pub fn note_worker(metrics: &ExecutionPlanMetricsSet, partition: usize, context: &TaskContext) {
    if let Some(address) = context.session_config().get_extension::<WorkerAddress>() {
        MetricBuilder::new(metrics).counter(format!("worker@{}", address.0), partition).add(1);
    }
}

/// The session a worker (at `address`) runs one task in: the library's `builder` (its
/// configuration and runtime) with `base`'s functions, tables and table formats, and the codec.
pub fn worker_state(mut builder: SessionStateBuilder, base: &SessionState, address: &str, channels: &NamedChannels) -> SessionState {
    builder.config().get_or_insert_default().set_extension(Arc::new(WorkerAddress(address.to_string())));
    builder
        .with_scalar_functions(base.scalar_functions().values().cloned().collect())
        .with_aggregate_functions(base.aggregate_functions().values().cloned().collect())
        .with_window_functions(base.window_functions().values().cloned().collect())
        .with_table_functions(base.table_functions().clone())
        .with_table_factories(base.table_factories().clone())
        .with_catalog_list(Arc::clone(base.catalog_list()))
        .with_distributed_user_codec(OceanCodec)
        .with_distributed_channel_resolver(channels.clone())
        .build()
}

/// Connections to workers (datafusion-distributed's default, cached) whose errors name the
/// worker: a worker that dies during a query fails it with its address.
#[derive(Clone, Default)]
pub struct NamedChannels {
    inner: DefaultChannelResolver,
}

#[async_trait]
impl ChannelResolver for NamedChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let inner = self.inner.get_worker_client_for_url(url).await.map_err(|e| named(url, e))?;
        Ok(Box::new(NamedChannel { url: url.clone(), inner }))
    }
}

struct NamedChannel {
    url: Url,
    inner: Box<dyn WorkerChannel>,
}

/// `e` with the worker's address in front, unless it names a worker already (an error a
/// worker got from another one).
fn named(url: &Url, e: DataFusionError) -> DataFusionError {
    if e.to_string().contains("worker http") {
        return e;
    }
    exec_datafusion_err!("worker {url} failed or became unreachable: {e}")
}

fn named_stream<T: Send + 'static>(url: &Url, s: BoxStream<'static, Result<T>>) -> BoxStream<'static, Result<T>> {
    let url = url.clone();
    s.map(move |item| item.map_err(|e| named(&url, e))).boxed()
}

#[async_trait]
impl WorkerChannel for NamedChannel {
    async fn coordinator_channel(
        &mut self,
        headers: HeaderMap,
        request: SetPlanRequest,
        c2w: BoxStream<'static, CoordinatorToWorkerMsg>,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        let s = self.inner.coordinator_channel(headers, request, c2w, metrics, task_ctx).await;
        Ok(named_stream(&self.url, s.map_err(|e| named(&self.url, e))?))
    }

    async fn execute_task(
        &mut self,
        headers: HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        let streams = self.inner.execute_task(headers, request, metrics, task_ctx).await.map_err(|e| named(&self.url, e))?;
        Ok(streams.into_iter().map(|s| named_stream(&self.url, s)).collect())
    }

    async fn get_worker_info(&mut self, request: GetWorkerInfoRequest) -> Result<GetWorkerInfoResponse> {
        self.inner.get_worker_info(request).await.map_err(|e| named(&self.url, e))
    }
}

/// Serialises OceanQL's execution plan nodes for workers.
#[derive(Debug, Default)]
pub struct OceanCodec;

/// An encoded node: a tag, a JSON description, and binary data (Arrow IPC) for some nodes.
fn frame(tag: u8, desc: &Value, data: &[u8], buf: &mut Vec<u8>) {
    let text = desc.to_string();
    buf.push(tag);
    buf.extend_from_slice(&(text.len() as u64).to_le_bytes());
    buf.extend_from_slice(text.as_bytes());
    buf.extend_from_slice(data);
}

fn unframe(buf: &[u8]) -> Result<(u8, Value, &[u8])> {
    let bad = || exec_datafusion_err!("OceanQL codec: truncated plan node ({} bytes)", buf.len());
    let (&tag, rest) = buf.split_first().ok_or_else(bad)?;
    let len = rest.get(..8).ok_or_else(bad)?;
    let len = u64::from_le_bytes(len.try_into().map_err(|_| bad())?) as usize;
    let text = rest.get(8..8 + len).ok_or_else(bad)?;
    let desc = serde_json::from_slice(text).map_err(|e| exec_datafusion_err!("OceanQL codec: {e}"))?;
    Ok((tag, desc, &rest[8 + len..]))
}

const GRID_SCAN: u8 = 1;
const SAMPLE_SCAN: u8 = 2;
const TILE_STATS: u8 = 3;
const INSITU_SCAN: u8 = 4;
const BIN_AGGREGATE: u8 = 5;

impl PhysicalExtensionCodec for OceanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (tag, desc, data) = unframe(buf)?;
        match tag {
            GRID_SCAN => GridScanExec::decode(&desc),
            SAMPLE_SCAN => SampleScanExec::decode(&desc),
            INSITU_SCAN => InsituScanExec::decode(&desc, ctx),
            TILE_STATS => {
                let [input] = inputs else { return internal_err!("TileStatsAggregateExec takes one input, got {}", inputs.len()) };
                TileStatsAggregateExec::decode(Arc::clone(input), &desc, read_batch(data)?)
            }
            BIN_AGGREGATE => {
                let [input] = inputs else { return internal_err!("BinAggregateExec takes one input, got {}", inputs.len()) };
                BinAggregateExec::decode(Arc::clone(input), &desc, data)
            }
            other => internal_err!("OceanQL codec: unknown node tag {other}"),
        }
    }

    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, buf: &mut Vec<u8>, _proto: &dyn PhysicalProtoConverterExtension) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<GridScanExec>() {
            frame(GRID_SCAN, &scan.encode()?, &[], buf);
        } else if let Some(scan) = node.downcast_ref::<SampleScanExec>() {
            frame(SAMPLE_SCAN, &scan.encode()?, &[], buf);
        } else if let Some(scan) = node.downcast_ref::<InsituScanExec>() {
            frame(INSITU_SCAN, &scan.encode(), &[], buf);
        } else if let Some(agg) = node.downcast_ref::<BinAggregateExec>() {
            let (desc, schema) = agg.encode()?;
            frame(BIN_AGGREGATE, &desc, &schema, buf);
        } else if let Some(agg) = node.downcast_ref::<TileStatsAggregateExec>() {
            let (desc, state) = agg.encode();
            frame(TILE_STATS, &desc, &write_batch(state)?, buf);
        } else {
            return internal_err!(
                "{} cannot run on a worker: OceanQL's codec does not serialise it (run the query without --workers)",
                node.name()
            );
        }
        Ok(())
    }
}

pub fn write_batch(batch: Option<&RecordBatch>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(batch) = batch {
        let mut writer = StreamWriter::try_new(&mut out, &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
    }
    Ok(out)
}

pub fn read_batch(data: &[u8]) -> Result<Option<RecordBatch>> {
    if data.is_empty() {
        return Ok(None);
    }
    let mut reader = StreamReader::try_new(data, None)?;
    reader.next().transpose().map_err(Into::into)
}

/// A product's definition as JSON.
pub fn spec_to_json(spec: &ProductSpec) -> Value {
    let n = &spec.names;
    let index = match &spec.index {
        IndexSetting::Beside => json!("beside"),
        IndexSetting::Off => json!("off"),
        IndexSetting::At(dir) => json!({ "at": dir }),
    };
    json!({
        "format": spec.format.name(),
        "pattern": spec.pattern.map(Pattern::name),
        "locations": spec.locations,
        "names": [n.time, n.lat, n.lon, n.depth, n.platform_id],
        "index": index,
        "tile_size": spec.tile_size,
    })
}

fn bad_desc(what: &str) -> datafusion::error::DataFusionError {
    exec_datafusion_err!("OceanQL codec: bad or missing '{what}' in an encoded scan")
}

/// The product definition encoded by [`spec_to_json`].
pub fn spec_from_json(v: &Value) -> Result<ProductSpec> {
    let format = match v["format"].as_str() {
        Some("netcdf") => GridFormat::Netcdf,
        Some("zarr") => GridFormat::Zarr,
        _ => return Err(bad_desc("format")),
    };
    let pattern = match v["pattern"].as_str() {
        Some(p) => Some(Pattern::parse(p).ok_or_else(|| bad_desc("pattern"))?),
        None => None,
    };
    let locations = strings(&v["locations"]).ok_or_else(|| bad_desc("locations"))?;
    let names: Vec<Option<String>> =
        v["names"].as_array().ok_or_else(|| bad_desc("names"))?.iter().map(|n| n.as_str().map(str::to_string)).collect();
    let [time, lat, lon, depth, platform_id] = <[Option<String>; 5]>::try_from(names).map_err(|_| bad_desc("names"))?;
    let index = match &v["index"] {
        Value::String(s) if s == "off" => IndexSetting::Off,
        Value::String(_) => IndexSetting::Beside,
        other => IndexSetting::At(other["at"].as_str().ok_or_else(|| bad_desc("index"))?.to_string()),
    };
    let tile_size = match &v["tile_size"] {
        Value::Array(a) if a.len() == 2 => Some((usize_at(&a[0])?, usize_at(&a[1])?)),
        _ => None,
    };
    let names = CoordNames { time, lat, lon, depth, platform_id };
    Ok(ProductSpec { format, pattern, locations, names, index, tile_size })
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|s| s.as_str().map(str::to_string)).collect()
}

/// A JSON number as usize.
pub fn usize_at(v: &Value) -> Result<usize> {
    v.as_u64().map(|n| n as usize).ok_or_else(|| bad_desc("number"))
}

/// A JSON array of numbers.
pub fn usizes(v: &Value) -> Result<Vec<usize>> {
    v.as_array().ok_or_else(|| bad_desc("numbers"))?.iter().map(usize_at).collect()
}

/// The products workers have opened, by definition.
static PRODUCTS: Mutex<Option<HashMap<String, Arc<dyn TableProvider>>>> = Mutex::new(None);

/// The table of `spec` as this process sees it, opened once; `granules` (index, path) are
/// the granules the coordinator planned with: the product is reopened when they differ
/// (new files), and an error names the first one that still differs.
pub fn product(spec: &ProductSpec, granules: &[(usize, String)]) -> Result<Arc<dyn TableProvider>> {
    let key = format!("{}|{:?}", spec.key(), spec.index);
    let cached = PRODUCTS.lock().ok().and_then(|m| m.as_ref().and_then(|m| m.get(&key).cloned()));
    if let Some(table) = cached
        && granule_mismatch(&table, granules).is_none()
    {
        return Ok(table);
    }
    let table = open_blocking(spec)?;
    if let Some((i, path)) = granule_mismatch(&table, granules) {
        return Err(exec_datafusion_err!(
            "this worker does not see the coordinator's granule {i} ({path}) of {}: data paths must be the same on every node",
            spec.locations.join(", ")
        ));
    }
    if let Ok(mut m) = PRODUCTS.lock() {
        m.get_or_insert_with(HashMap::new).insert(key, Arc::clone(&table));
    }
    Ok(table)
}

fn open_blocking(spec: &ProductSpec) -> Result<Arc<dyn TableProvider>> {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread { tokio::task::block_in_place(|| crate::indexing::open_product(spec)) } else { crate::indexing::open_product(spec) }
}

/// Runs `fut` to completion from the (synchronous) codec: on a worker's multi-threaded runtime,
/// or on a runtime of its own outside one.
pub fn block_on<T>(fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| h.block_on(fut)),
        Ok(_) => internal_err!("OceanQL codec: an in situ scan can only be rebuilt on a multi-threaded runtime"),
        Err(_) => tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(fut),
    }
}

/// A window as JSON: per column, its intervals as [lo, lo_incl, hi, hi_incl] (null = unbounded).
pub fn window_to_json(w: &Window) -> Value {
    let bound = |x: f64| x.is_finite().then_some(x);
    let ranges = |r: &Ranges| -> Vec<Value> { r.0.iter().map(|i| json!([bound(i.lo), i.lo_incl, bound(i.hi), i.hi_incl])).collect() };
    json!({ "time": ranges(&w.time), "depth": ranges(&w.depth), "lat": ranges(&w.lat), "lon": ranges(&w.lon) })
}

/// The window [`window_to_json`] wrote.
pub fn window_from_json(v: &Value) -> Result<Window> {
    let interval = |i: &Value| -> Option<Interval> {
        let lo = if i[0].is_null() { f64::NEG_INFINITY } else { i[0].as_f64()? };
        let hi = if i[2].is_null() { f64::INFINITY } else { i[2].as_f64()? };
        Some(Interval { lo, lo_incl: i[1].as_bool()?, hi, hi_incl: i[3].as_bool()? })
    };
    let ranges = |name: &str| -> Result<Ranges> {
        let list = v[name].as_array().ok_or_else(|| bad_desc("window"))?;
        list.iter().map(interval).collect::<Option<Vec<_>>>().map(Ranges).ok_or_else(|| bad_desc("window"))
    };
    Ok(Window { time: ranges("time")?, depth: ranges("depth")?, lat: ranges("lat")?, lon: ranges("lon")? })
}

/// The first of `granules` that `table` does not have at the same position.
fn granule_mismatch(table: &Arc<dyn TableProvider>, granules: &[(usize, String)]) -> Option<(usize, String)> {
    let path_of = |i: usize| -> Option<String> {
        if let Some(grid) = table.downcast_ref::<GridTable>() {
            return grid.product().granules.get(i).map(|g| g.granule.clone());
        }
        table.downcast_ref::<SampleTable>().and_then(|s| s.product().granules().get(i).map(|g| g.granule.clone()))
    };
    granules.iter().find(|(i, path)| path_of(*i).as_deref() != Some(path.as_str())).cloned()
}

/// The granules (index, path) `units` of a scan read, for [`product`]'s check.
pub fn granules_json(used: impl Iterator<Item = (usize, String)>) -> Value {
    let mut seen: Vec<(usize, String)> = used.collect();
    seen.sort();
    seen.dedup();
    json!(seen)
}

/// The (index, path) pairs of [`granules_json`].
pub fn granules_from_json(v: &Value) -> Result<Vec<(usize, String)>> {
    let bad = || bad_desc("granules");
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|p| Ok((usize_at(&p[0])?, p[1].as_str().ok_or_else(bad)?.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_contiguous_and_cover_all_units() {
        let units: Vec<usize> = (0..7).collect();
        let shares: Vec<Vec<usize>> = (0..3).map(|t| task_share(&units, t, 3)).collect();
        assert_eq!(shares, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert!(task_share(&units[..1], 1, 2).is_empty());
    }

    #[test]
    fn spec_round_trips() {
        let spec = ProductSpec {
            format: GridFormat::Zarr,
            pattern: Some(Pattern::Swath),
            locations: vec!["s3://b/x.zarr".into()],
            names: CoordNames { time: Some("t".into()), ..Default::default() },
            index: IndexSetting::At("/idx".into()),
            tile_size: Some((64, 32)),
        };
        let back = spec_from_json(&spec_to_json(&spec)).unwrap();
        assert_eq!(back.key(), spec.key());
        assert!(matches!(back.index, IndexSetting::At(ref d) if d == "/idx"));
    }

    #[test]
    fn windows_round_trip_with_unbounded_ends() {
        let w = Window {
            lat: Ranges(vec![Interval { lo: 45.0, lo_incl: true, hi: 60.0, hi_incl: false }]),
            time: Ranges(vec![Interval { lo: f64::NEG_INFINITY, lo_incl: true, hi: 1.5e15, hi_incl: true }]),
            lon: Ranges(vec![]),
            ..Default::default()
        };
        assert_eq!(window_from_json(&window_to_json(&w)).unwrap(), w);
        assert!(window_from_json(&json!({"time": [[1.0, true]]})).is_err());
    }

    #[test]
    fn frames_round_trip_and_truncation_is_an_error() {
        let mut buf = Vec::new();
        frame(7, &json!({"a": 1}), b"xyz", &mut buf);
        let (tag, desc, data) = unframe(&buf).unwrap();
        assert_eq!((tag, desc["a"].as_u64(), data), (7, Some(1), &b"xyz"[..]));
        assert!(unframe(&buf[..5]).is_err());
    }
}
