//! OceanQL engine: the session builder, the table providers of every
//! observation pattern (grids, swaths, along-track, CF DSG, in situ records)
//! with their pruning and pushdown, and the scans that read only what a query needs.

pub mod session;
pub mod session_handle;

pub use session::create_context;
pub mod anomaly;
pub mod bin_aggregate;
pub mod cell_stack;
pub mod climatology;
pub mod distance_box;
pub mod distributed;
pub mod footprint;
pub mod geo_window;
pub mod grid_scan;
pub mod grid_table;
pub mod colocate_join;
pub mod index;
pub mod index_functions;
pub mod index_store;
pub mod indexing;
pub mod insitu_table;
pub mod interp;
pub mod join_cells;
pub mod near;
pub mod miniprod;
pub mod provenance;
pub mod resample;
pub mod sample_scan;
pub mod sample_table;
pub mod scan_stream;
pub mod stats_aggregate;
pub mod step_aggregate;
pub mod tile_stats;
pub mod window;

use std::sync::Arc;

use datafusion::catalog::TableProvider;

/// The documentation of OceanQL's async scalar functions (`anomaly`, `interp`), which
/// DataFusion's async wrapper does not pass on (for `\df`).
pub fn async_function_documentation(name: &str) -> Option<&'static datafusion::logical_expr::Documentation> {
    match name {
        "anomaly" => anomaly::documentation(),
        "interp" => interp::documentation(),
        _ => None,
    }
}

/// The observation pattern of a table OceanQL reads (grid, swath, ..., and
/// the granule count), or `None` for other tables.
pub fn table_pattern(provider: &Arc<dyn TableProvider>) -> Option<(&'static str, usize)> {
    if let Some(grid) = provider.downcast_ref::<grid_table::GridTable>() {
        return Some(("grid", grid.product().granules.len()));
    }
    if let Some(sample) = provider.downcast_ref::<sample_table::SampleTable>() {
        return Some((sample.product().pattern.name(), sample.product().granules().len()));
    }
    if let Some(insitu) = provider.downcast_ref::<insitu_table::InsituTable>() {
        return Some(("insitu", insitu.granules().len()));
    }
    None
}

/// What a NetCDF/Zarr table was created from (to index it), or `None` for other tables.
pub fn product_spec(provider: &Arc<dyn TableProvider>) -> Option<&indexing::ProductSpec> {
    if let Some(only) = provider.downcast_ref::<indexing::SpecOnly>() {
        return Some(&only.spec);
    }
    if let Some(grid) = provider.downcast_ref::<grid_table::GridTable>() {
        return Some(&grid.product().spec);
    }
    provider.downcast_ref::<sample_table::SampleTable>().map(|s| &s.product().spec)
}

/// The granule and tile index a NetCDF/Zarr table uses, or `None` for other tables.
pub fn product_index(provider: &Arc<dyn TableProvider>) -> Option<&Arc<index::ProductIndex>> {
    if let Some(grid) = provider.downcast_ref::<grid_table::GridTable>() {
        return Some(&grid.product().index);
    }
    provider.downcast_ref::<sample_table::SampleTable>().map(|s| &s.product().index)
}

/// Implements `PhysicalOptimizerRule` for `$rule` (named `$name`): `$rewrite`, which maps a
/// node to its replacement or `None`, applied to every node of the plan, bottom-up.
#[macro_export]
macro_rules! node_rule {
    ($rule:ty, $name:literal, $rewrite:path) => {
        impl datafusion::physical_optimizer::PhysicalOptimizerRule for $rule {
            fn optimize(
                &self,
                plan: std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>,
                _config: &datafusion::common::config::ConfigOptions,
            ) -> datafusion::error::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
                use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
                plan.transform_up(|node| Ok($rewrite(&node)?.map_or_else(|| Transformed::no(node), Transformed::yes))).data()
            }

            fn name(&self) -> &str {
                $name
            }

            fn schema_check(&self) -> bool {
                true
            }
        }
    };
}
