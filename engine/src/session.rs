//! Builds the DataFusion session every OceanQL front end (REPL, server) uses.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::plan_datafusion_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::CreateExternalTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use oceanql_connectors::store;

use crate::grid_table::{GridFormat, GridTableFactory};
use crate::session_handle::SessionHandle;

/// A session with OceanQL's formats (`STORED AS NETCDF`, `STORED AS ZARR`) and functions.
pub fn create_context() -> Result<SessionContext> {
    create_context_with(SessionConfig::new())
}

/// Same as [`create_context`] with a caller-supplied configuration.
pub fn create_context_with(config: SessionConfig) -> Result<SessionContext> {
    let config = config.with_information_schema(true);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(crate::stats_aggregate::TileStatsAggregate))
        .with_physical_optimizer_rule(Arc::new(crate::colocate_join::ColocateJoin))
        .build();
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
    handle.attach(&ctx);
    Ok(ctx)
}

/// The analysis functions: climatology(), resample(), anomaly(), interp().
fn register_analytics(_ctx: &SessionContext, _handle: &SessionHandle) {
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
