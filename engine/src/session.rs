//! Builds the DataFusion session every OceanQL front end (REPL, server) uses.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::plan_datafusion_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::CreateExternalTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::WorkerResolver;
use oceanql_connectors::store;

use crate::grid_table::{GridFormat, GridTableFactory};
use crate::session_handle::SessionHandle;

/// A session with OceanQL's formats (`STORED AS NETCDF`, `STORED AS ZARR`) and functions.
pub fn create_context() -> Result<SessionContext> {
    create_context_with(SessionConfig::new())
}

/// Same as [`create_context`] with a caller-supplied configuration.
pub fn create_context_with(config: SessionConfig) -> Result<SessionContext> {
    build_context(config, false, None)
}

/// Same as [`create_context`], and `SELECT * FROM 'file.parquet'` reads a file without
/// registering it (DataFusion's `enable_url_table`, as datafusion-cli). Use this rather than
/// calling `enable_url_table` on a context: that makes a new session, which the functions
/// reading other tables (anomaly, interp) would not see.
pub fn create_context_with_url_table() -> Result<SessionContext> {
    build_context(SessionConfig::new(), true, None)
}

/// Same as [`create_context_with`] (and `url_table` as [`create_context_with_url_table`]),
/// coordinating queries over the workers `workers` lists (datafusion-distributed): scans
/// are split by granules/chunks into tasks that run on the workers.
pub fn create_distributed_context(config: SessionConfig, url_table: bool, workers: Arc<dyn WorkerResolver>) -> Result<SessionContext> {
    build_context(config, url_table, Some(workers))
}

fn build_context(config: SessionConfig, url_table: bool, workers: Option<Arc<dyn WorkerResolver>>) -> Result<SessionContext> {
    let config = config.with_information_schema(true);
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rule(Arc::new(crate::distance_box::DistanceBox))
        .with_physical_optimizer_rule(Arc::new(crate::stats_aggregate::TileStatsAggregate))
        .with_physical_optimizer_rule(Arc::new(crate::bin_aggregate::BinAggregate))
        .with_physical_optimizer_rule(Arc::new(crate::colocate_join::ColocateJoin));
    let state = match workers {
        Some(workers) => crate::distributed::coordinator(builder, workers).build(),
        // Not in distributed plans: JoinKeysExec and StepAggregateExec have no codec, and join
        // keys would not reach the workers' scans.
        None => builder
            .with_physical_optimizer_rule(Arc::new(crate::join_cells::JoinCells))
            .with_physical_optimizer_rule(Arc::new(crate::step_aggregate::StepAggregate))
            .build(),
    };
    let mut state = state;
    let factories = state.table_factories_mut();
    factories.insert("NETCDF".into(), Arc::new(GridTableFactory::new(GridFormat::Netcdf)));
    factories.insert("ZARR".into(), Arc::new(GridTableFactory::new(GridFormat::Zarr)));
    factories.insert("INSITU".into(), Arc::new(crate::insitu_table::InsituTableFactory));
    // DataFusion's own formats (PARQUET, CSV, JSON, ...) and the others read s3:// too:
    // their storage OPTIONS register the bucket's store in the session first.
    for (name, factory) in state.table_factories_mut().iter_mut() {
        if name != "NETCDF" && name != "ZARR" {
            *factory = Arc::new(ObjectStorageFactory { inner: factory.clone() });
        }
    }
    let ctx = SessionContext::new_with_state(state);
    oceanql_udfs::register(&ctx)?;
    crate::index_functions::register(&ctx);
    // Functions that read other tables during a query (anomaly, interp) reach the
    // session through this handle.
    let handle = SessionHandle::new();
    register_analytics(&ctx, &handle);
    let ctx = if url_table { ctx.enable_url_table() } else { ctx };
    handle.attach(&ctx);
    Ok(ctx)
}

/// The analysis functions: climatology(), resample(), anomaly(), interp().
fn register_analytics(ctx: &SessionContext, handle: &SessionHandle) {
    ctx.register_udf(crate::interp::udf(handle.clone()));
    ctx.register_udtf("climatology", Arc::new(crate::climatology::Climatology));
    ctx.register_udtf("resample", Arc::new(crate::resample::Resample));
    ctx.register_udf(crate::anomaly::udf(handle.clone()));
}

/// A table factory (e.g. DataFusion's `ListingTableFactory`) whose `s3://`
/// LOCATIONs get their object store from the storage OPTIONS (`aws.*`, removed
/// before the wrapped factory sees them) or the AWS_* environment variables.
#[derive(Debug)]
struct ObjectStorageFactory {
    inner: Arc<dyn TableProviderFactory>,
}

#[async_trait]
impl TableProviderFactory for ObjectStorageFactory {
    async fn create(&self, state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let mut options = cmd.options.clone();
        store::register(state, &cmd.locations, &mut options)
            .map_err(|e| plan_datafusion_err!("CREATE EXTERNAL TABLE {}: {}", cmd.name, e.message()))?;
        let result = if options.len() == cmd.options.len() {
            self.inner.create(state, cmd).await
        } else {
            let mut cmd = cmd.clone();
            cmd.options = options;
            self.inner.create(state, &cmd).await
        };
        result.map_err(|e| match (e.find_root(), cmd.locations.iter().find(|l| store::is_remote(l))) {
            (DataFusionError::ObjectStore(os), Some(url)) => {
                plan_datafusion_err!("LOCATION '{url}': {}", store::describe_error(url, os))
            }
            _ => e,
        })
    }
}
