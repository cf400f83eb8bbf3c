//! OceanQL engine: the session builder, the table providers of every
//! observation pattern (grids, swaths, along-track, CF DSG, in situ records)
//! with their pruning and pushdown, and the scans that read only what a query needs.

pub mod session;

pub use session::create_context;
pub mod grid_scan;
pub mod grid_table;
pub mod insitu_table;
pub mod sample_scan;
pub mod sample_table;
pub mod scan_stream;
pub mod window;

use std::sync::Arc;

use datafusion::catalog::TableProvider;

/// The observation pattern of a table OceanQL reads (grid, swath, ..., and
/// the granule count), or `None` for other tables.
pub fn table_pattern(provider: &Arc<dyn TableProvider>) -> Option<(&'static str, usize)> {
    if let Some(grid) = provider.downcast_ref::<grid_table::GridTable>() {
        return Some(("grid", grid.product().granules.len()));
    }
    if let Some(sample) = provider.downcast_ref::<sample_table::SampleTable>() {
        return Some((sample.product().pattern.name(), sample.product().granules.len()));
    }
    if let Some(insitu) = provider.downcast_ref::<insitu_table::InsituTable>() {
        return Some(("insitu", insitu.granules().len()));
    }
    None
}
