//! OceanQL SQL functions: geospatial and oceanographic, one function per file,
//! registered in one place ([`register`]).

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

/// Registers every OceanQL function on `ctx`.
pub fn register(_ctx: &SessionContext) -> Result<()> {
    Ok(())
}
