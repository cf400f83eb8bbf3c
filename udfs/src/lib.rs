//! OceanQL SQL functions: geospatial and oceanographic, one function per file,
//! registered in one place ([`register`]).

mod grid_snap;
mod haversine_km;

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub use grid_snap::GridSnap;
pub use haversine_km::HaversineKm;

/// Every scalar function OceanQL adds to DataFusion's.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(HaversineKm::new())), Arc::new(ScalarUDF::from(GridSnap::new()))]
}

/// Registers every OceanQL function on `ctx`.
pub fn register(ctx: &SessionContext) -> Result<()> {
    for f in scalar_functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    Ok(())
}

/// Mean Earth radius (IUGG), km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

#[cfg(test)]
mod tests {
    /// Every function file is registered (one file per function).
    #[test]
    fn every_function_file_is_registered() {
        let names: Vec<String> = super::scalar_functions().iter().map(|f| f.name().to_string()).collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for entry in std::fs::read_dir(dir).unwrap() {
            let stem = entry.unwrap().path().file_stem().unwrap().to_string_lossy().to_string();
            if stem != "lib" {
                assert!(names.contains(&stem), "{stem}.rs is not registered");
            }
        }
    }
}
