//! OceanQL SQL functions: geospatial and oceanographic, one function per file,
//! registered in one place ([`register`]).

mod colocate;
mod date_part;
mod geometry;
mod grid_snap;
mod haversine_km;
mod st_area;
mod st_astext;
mod st_buffer;
mod st_contains;
mod st_distance;
mod st_distancesphere;
mod st_dwithin;
mod st_geomfromtext;
mod st_intersects;
mod st_makeenvelope;
mod st_point;
mod st_within;
mod st_x;
mod st_y;

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub use colocate::Colocate;
pub use date_part::DatePart;
pub use grid_snap::GridSnap;
pub use geometry::{point_xy, to_geometry, wkt_to_wkb};
pub use haversine_km::{HaversineKm, haversine};
pub use st_area::StArea;
pub use st_astext::StAsText;
pub use st_buffer::StBuffer;
pub use st_contains::StContains;
pub use st_distance::StDistance;
pub use st_distancesphere::StDistanceSphere;
pub use st_dwithin::StDWithin;
pub use st_geomfromtext::StGeomFromText;
pub use st_intersects::StIntersects;
pub use st_makeenvelope::StMakeEnvelope;
pub use st_point::StPoint;
pub use st_within::StWithin;
pub use st_x::StX;
pub use st_y::StY;

/// Every scalar function OceanQL adds to DataFusion's.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(HaversineKm::new())),
        Arc::new(ScalarUDF::from(GridSnap::new())),
        Arc::new(ScalarUDF::from(Colocate::new())),
        Arc::new(ScalarUDF::from(DatePart::new())),
        Arc::new(ScalarUDF::from(StArea::new())),
        Arc::new(ScalarUDF::from(StAsText::new())),
        Arc::new(ScalarUDF::from(StBuffer::new())),
        Arc::new(ScalarUDF::from(StContains::new())),
        Arc::new(ScalarUDF::from(StDistance::new())),
        Arc::new(ScalarUDF::from(StDistanceSphere::new())),
        Arc::new(ScalarUDF::from(StDWithin::new())),
        Arc::new(ScalarUDF::from(StGeomFromText::new())),
        Arc::new(ScalarUDF::from(StIntersects::new())),
        Arc::new(ScalarUDF::from(StMakeEnvelope::new())),
        Arc::new(ScalarUDF::from(StPoint::new())),
        Arc::new(ScalarUDF::from(StWithin::new())),
        Arc::new(ScalarUDF::from(StX::new())),
        Arc::new(ScalarUDF::from(StY::new())),
    ]
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
            // geometry.rs: what the st_* functions share.
            if stem != "lib" && stem != "geometry" {
                assert!(names.contains(&stem), "{stem}.rs is not registered");
            }
        }
    }
}
