//! Tile statistics as scans offer them to the aggregate rewrite
//! (`stats_aggregate`): the tiles wholly inside a query window, with the
//! count/min/max/sum of each variable stored in the index, and a scan of
//! the rest (the tiles on the window's edge).

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::physical_plan::ExecutionPlan;

use crate::window::Window;

/// Count, minimum, maximum and sum of one variable's decoded values over one
/// tile (NULLs excluded); `min`/`max` are NaN when `count` is 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VarStats {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
}

impl VarStats {
    pub const EMPTY: VarStats = VarStats { count: 0, min: f64::NAN, max: f64::NAN, sum: 0.0 };

    /// Adds one value (callers skip NULLs).
    pub fn push(&mut self, x: f64) {
        if self.count == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        self.sum += x;
    }
}

/// One tile answered from its statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct TileStat {
    /// Time range of the tile's samples (microseconds since the epoch); `None` without time.
    pub time_start: Option<i64>,
    pub time_end: Option<i64>,
    /// Rows (samples, cells) in the tile: what `count(*)` counts.
    pub rows: u64,
    /// Statistics of each requested variable, in the order asked.
    pub vars: Vec<VarStats>,
}

/// A scan split into tiles answered from statistics and a scan of the others.
#[derive(Debug)]
pub struct StatsSplit {
    pub tiles: Vec<TileStat>,
    /// The same scan (projection, window, partitions) without those tiles.
    pub edge: Arc<dyn ExecutionPlan>,
    /// Tiles the window touches, and how many of them `edge` still reads.
    pub tiles_selected: usize,
    pub tiles_scanned: usize,
}

/// A scan whose product has tile statistics.
pub trait TileStatsSource {
    /// Splits the scan when `window` is exactly the query's filter (every row
    /// of a tile wholly inside it matches) and every tile has statistics for
    /// `vars` (column names of the scan's product). A tile is answered from
    /// statistics when it lies wholly inside the window, has no missing
    /// coordinate, and `accept` agrees (e.g. its time range falls in one
    /// time bucket). `None` when the product has no statistics for `vars`.
    fn split_by_stats(&self, window: &Window, vars: &[&str], accept: &dyn Fn(&TileStat) -> bool) -> Result<Option<StatsSplit>>;
}

/// The scan `plan` as a source of tile statistics, if it is one.
pub fn stats_source(plan: &dyn ExecutionPlan) -> Option<&dyn TileStatsSource> {
    if let Some(scan) = plan.downcast_ref::<crate::grid_scan::GridScanExec>() {
        return Some(scan);
    }
    if let Some(scan) = plan.downcast_ref::<crate::sample_scan::SampleScanExec>() {
        return Some(scan);
    }
    #[cfg(test)]
    if let Some(scan) = plan.downcast_ref::<crate::stats_aggregate::tests::TileMemExec>() {
        return Some(scan);
    }
    None
}

/// Where each of `wanted` is among the index's variables; `None` if one has no statistics.
pub fn stat_positions(indexed: &[String], wanted: &[&str]) -> Option<Vec<usize>> {
    wanted.iter().map(|w| indexed.iter().position(|v| v == w)).collect()
}

/// A tile's statistics for the variables at `positions`; `None` when it has none.
pub fn tile_stat(tile: &crate::index::Tile, positions: &[usize]) -> Option<TileStat> {
    if tile.stats.is_empty() && !positions.is_empty() {
        return None;
    }
    let vars = positions.iter().map(|&p| tile.stats.get(p).copied()).collect::<Option<Vec<_>>>()?;
    Some(TileStat { time_start: tile.time.map(|t| t.0), time_end: tile.time.map(|t| t.1), rows: tile.rows, vars })
}
