//! Builds the DataFusion session every OceanQL front end (REPL, server) uses.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::grid_table::{GridFormat, GridTableFactory};

/// A session with OceanQL's formats (`STORED AS NETCDF`, `STORED AS ZARR`) and functions.
pub fn create_context() -> Result<SessionContext> {
    create_context_with(SessionConfig::new())
}

/// Same as [`create_context`] with a caller-supplied configuration.
pub fn create_context_with(config: SessionConfig) -> Result<SessionContext> {
    let config = config.with_information_schema(true);
    let state = SessionStateBuilder::new().with_config(config).with_default_features().build();
    let mut state = state;
    let factories = state.table_factories_mut();
    factories.insert("NETCDF".into(), Arc::new(GridTableFactory::new(GridFormat::Netcdf)));
    factories.insert("ZARR".into(), Arc::new(GridTableFactory::new(GridFormat::Zarr)));
    let ctx = SessionContext::new_with_state(state);
    oceanql_udfs::register(&ctx)?;
    Ok(ctx)
}
