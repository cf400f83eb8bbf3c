//! Table functions over the granule and tile index:
//! `granules('<table>')`, `tiles('<table>')` and
//! `crossover('<a>', '<b>', max_dt_seconds [, 'tiles'])`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryArray, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt32Builder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{TableReference, plan_datafusion_err, plan_err};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use geo::MultiPolygon;

use crate::footprint;
use crate::index::{IndexedGranule, ProductIndex, Tile};
use crate::index_store;

/// Registers `granules`, `tiles`, `crossover` and `miniprod` ([`crate::miniprod`]).
pub fn register(ctx: &SessionContext) {
    ctx.register_udtf("granules", Arc::new(IndexView { tiles: false }));
    ctx.register_udtf("tiles", Arc::new(IndexView { tiles: true }));
    ctx.register_udtf("crossover", Arc::new(Crossover));
    ctx.register_udtf("miniprod", Arc::new(crate::miniprod::Miniprod));
}

/// One line on each table function, for `\df`.
pub fn description(name: &str) -> Option<&'static str> {
    Some(match name {
        "granules" => "granules('<table>'): one row per file or store of a NetCDF/Zarr table: time range, bbox, footprint (WKB), size",
        "tiles" => "tiles('<table>'): one row per tile (chunk, block of lines x cells): slice, time range, bbox, footprint, per-variable count/min/max/sum",
        "crossover" => "crossover('<a>', '<b>', max_dt_seconds [, 'tiles']): granules (or tiles) of two products whose footprints meet within max_dt",
        "miniprod" => crate::miniprod::DESCRIPTION,
        "climatology" => crate::climatology::DESCRIPTION,
        "resample" => crate::resample::DESCRIPTION,
        _ => return None,
    })
}

/// `granules('<table>')` / `tiles('<table>')`.
#[derive(Debug)]
struct IndexView {
    tiles: bool,
}

impl IndexView {
    fn name(&self) -> &'static str {
        if self.tiles { "tiles" } else { "granules" }
    }
}

impl TableFunctionImpl for IndexView {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [table] = args.exprs() else {
            return plan_err!("{}() takes one argument, a table name: {}('sst')", self.name(), self.name());
        };
        let table = text_arg(self.name(), "the table name", table)?;
        let index = index_of(args.session(), self.name(), &table)?;
        let batch = if self.tiles { index_store::tiles_batch(&index)? } else { index_store::granules_batch(&index, false)? };
        Ok(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))
    }
}

/// A text literal argument.
fn text_arg(function: &str, what: &str, expr: &Expr) -> Result<String> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Ok(s.clone()),
        other => plan_err!("{function}(): {what} must be a text literal in quotes, not {other}"),
    }
}

/// A number literal argument.
fn number_arg(function: &str, what: &str, expr: &Expr) -> Result<f64> {
    let Expr::Literal(v, _) = expr else {
        return plan_err!("{function}(): {what} must be a number, not {expr}");
    };
    let x = match v.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(Some(x))) => x,
        _ => return plan_err!("{function}(): {what} must be a number, not {v}"),
    };
    if !x.is_finite() || x < 0.0 {
        return plan_err!("{function}(): {what} must be a number of seconds >= 0, not {x}");
    }
    Ok(x)
}

/// The index of the NetCDF/Zarr table `name` in the session.
fn index_of(session: &dyn Session, function: &str, name: &str) -> Result<Arc<ProductIndex>> {
    let state = session
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| plan_datafusion_err!("{function}(): no session catalog"))?;
    let reference = TableReference::from(name);
    let schema = state.schema_for_ref(reference.clone())?;
    let provider = futures::executor::block_on(schema.table(reference.table()))?
        .ok_or_else(|| plan_datafusion_err!("{function}(): no table '{name}'"))?;
    crate::product_index(&provider)
        .cloned()
        .ok_or_else(|| plan_datafusion_err!("{function}(): table '{name}' is not a NetCDF or Zarr table, so it has no granule index"))
}

/// `crossover('<a>', '<b>', max_dt_seconds [, 'tiles'])`.
#[derive(Debug)]
struct Crossover;

impl TableFunctionImpl for Crossover {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let usage = "crossover('<table_a>', '<table_b>', max_dt_seconds [, 'tiles'])";
        let (a, b, dt, tiles) = match args.exprs() {
            [a, b, dt] => (a, b, dt, false),
            [a, b, dt, mode] => {
                let mode = text_arg("crossover", "the fourth argument", mode)?;
                if !mode.eq_ignore_ascii_case("tiles") && !mode.eq_ignore_ascii_case("granules") {
                    return plan_err!("crossover(): the fourth argument is 'tiles' or 'granules', not '{mode}'");
                }
                (a, b, dt, mode.eq_ignore_ascii_case("tiles"))
            }
            _ => return plan_err!("crossover() takes 3 or 4 arguments: {usage}"),
        };
        let (name_a, name_b) = (text_arg("crossover", "table_a", a)?, text_arg("crossover", "table_b", b)?);
        let max_dt = number_arg("crossover", "max_dt_seconds", dt)?;
        let index_a = index_of(args.session(), "crossover", &name_a)?;
        let index_b = index_of(args.session(), "crossover", &name_b)?;
        let pairs = crossovers(&index_a, &index_b, max_dt, tiles);
        let batch = crossover_batch(&index_a, &index_b, &pairs, tiles)?;
        Ok(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))
    }
}

/// One side of a crossover: a granule, and a tile of it (tiles mode) or the
/// tiles of it that cover the overlap (granules mode).
#[derive(Debug, Clone)]
pub struct Side {
    pub granule: usize,
    pub tile: Option<usize>,
    pub time: (i64, i64),
    pub covering: Vec<usize>,
}

/// A pair of granules (or tiles) of two products that see the same place within `max_dt`.
#[derive(Debug, Clone)]
pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub dt_seconds: f64,
    pub overlap: MultiPolygon<f64>,
    pub overlap_km2: f64,
}

/// Seconds between two time ranges (0 when they overlap).
fn gap_seconds(a: (i64, i64), b: (i64, i64)) -> f64 {
    let gap = (a.0.max(b.0) - a.1.min(b.1)).max(0);
    gap as f64 / 1e6
}

/// Every pair of granules (or, with `tiles`, of tiles) of `a` and `b` whose
/// footprints intersect and whose time ranges come within `max_dt` seconds.
pub fn crossovers(a: &ProductIndex, b: &ProductIndex, max_dt: f64, tiles: bool) -> Vec<Pair> {
    let max_dt_us = (max_dt * 1e6).round() as i64;
    // B's granules by start time: for each granule of A only those starting before its end + max_dt.
    let mut by_start: Vec<(i64, usize)> = b.granules.iter().enumerate().filter_map(|(i, g)| g.time.map(|t| (t.0, i))).collect();
    by_start.sort_unstable();
    let mut pairs = Vec::new();
    for (ia, ga) in a.granules.iter().enumerate() {
        let (Some(ta), Some(fa)) = (ga.time, ga.footprint.as_ref()) else { continue };
        let last = by_start.partition_point(|(s, _)| *s <= ta.1.saturating_add(max_dt_us));
        for &(_, ib) in &by_start[..last] {
            let gb = &b.granules[ib];
            let (Some(tb), Some(fb)) = (gb.time, gb.footprint.as_ref()) else { continue };
            if gap_seconds(ta, tb) > max_dt || !footprint::intersects(fa, fb) {
                continue;
            }
            if tiles {
                tile_pairs(ga, ia, gb, ib, max_dt, &mut pairs);
            } else if let Some(pair) = granule_pair(ga, ia, ta, fa, gb, ib, tb, fb) {
                pairs.push(pair);
            }
        }
    }
    pairs
}

#[allow(clippy::too_many_arguments)]
fn granule_pair(
    ga: &IndexedGranule,
    ia: usize,
    ta: (i64, i64),
    fa: &MultiPolygon<f64>,
    gb: &IndexedGranule,
    ib: usize,
    tb: (i64, i64),
    fb: &MultiPolygon<f64>,
) -> Option<Pair> {
    let overlap = footprint::intersection(fa, fb);
    let overlap_km2 = footprint::geodesic_area_km2(&overlap);
    if overlap.0.is_empty() || overlap_km2 <= 0.0 {
        return None;
    }
    let covering = |g: &IndexedGranule| -> Vec<usize> {
        g.tiles.iter().enumerate().filter(|(_, t)| t.footprint.as_ref().is_some_and(|f| footprint::intersects(f, &overlap))).map(|(i, _)| i).collect()
    };
    Some(Pair {
        a: Side { granule: ia, tile: None, time: ta, covering: covering(ga) },
        b: Side { granule: ib, tile: None, time: tb, covering: covering(gb) },
        dt_seconds: gap_seconds(ta, tb),
        overlap_km2,
        overlap,
    })
}

fn tile_pairs(ga: &IndexedGranule, ia: usize, gb: &IndexedGranule, ib: usize, max_dt: f64, out: &mut Vec<Pair>) {
    for (ka, a) in ga.tiles.iter().enumerate() {
        let (Some(ta), Some(fa)) = (a.time, a.footprint.as_ref()) else { continue };
        for (kb, b) in gb.tiles.iter().enumerate() {
            let (Some(tb), Some(fb)) = (b.time, b.footprint.as_ref()) else { continue };
            if gap_seconds(ta, tb) > max_dt || !footprint::intersects(fa, fb) {
                continue;
            }
            let overlap = footprint::intersection(fa, fb);
            let overlap_km2 = footprint::geodesic_area_km2(&overlap);
            if overlap.0.is_empty() || overlap_km2 <= 0.0 {
                continue;
            }
            out.push(Pair {
                a: Side { granule: ia, tile: Some(ka), time: ta, covering: vec![ka] },
                b: Side { granule: ib, tile: Some(kb), time: tb, covering: vec![kb] },
                dt_seconds: gap_seconds(ta, tb),
                overlap_km2,
                overlap,
            });
        }
    }
}

/// The bounding slice of some tiles: `[start, end)` along each slice dimension.
fn bounding_slice(tiles: &[Tile], which: &[usize], dims: usize) -> Vec<Option<(usize, usize)>> {
    (0..dims)
        .map(|k| {
            let ranges = which.iter().filter_map(|&i| tiles.get(i).and_then(|t| t.slice.get(k)));
            ranges.fold(None, |acc: Option<(usize, usize)>, r| Some(acc.map_or(*r, |a| (a.0.min(r.0), a.1.max(r.1)))))
        })
        .collect()
}

fn crossover_batch(a: &ProductIndex, b: &ProductIndex, pairs: &[Pair], tiles: bool) -> Result<RecordBatch> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("granule_a", DataType::Utf8, false),
        Field::new("granule_b", DataType::Utf8, false),
        Field::new("time_a", ts.clone(), false),
        Field::new("time_b", ts, false),
        Field::new("dt_seconds", DataType::Float64, false),
        index_store::footprint_field().with_name("overlap"),
        Field::new("overlap_km2", DataType::Float64, false),
    ];
    let time = |f: &dyn Fn(&Pair) -> i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter_values(pairs.iter().map(f)).with_timezone("UTC"))
    };
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| a.granules[p.a.granule].granule.as_str()))),
        Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| b.granules[p.b.granule].granule.as_str()))),
        time(&|p| p.a.time.0),
        time(&|p| p.b.time.0),
        Arc::new(Float64Array::from_iter_values(pairs.iter().map(|p| p.dt_seconds))),
        Arc::new(BinaryArray::from_iter_values(pairs.iter().map(|p| footprint::to_wkb(&p.overlap)))),
        Arc::new(Float64Array::from_iter_values(pairs.iter().map(|p| p.overlap_km2))),
    ];
    fn side_a(p: &Pair) -> &Side {
        &p.a
    }
    fn side_b(p: &Pair) -> &Side {
        &p.b
    }
    for (suffix, index, side) in [("a", a, side_a as fn(&Pair) -> &Side), ("b", b, side_b)] {
        if tiles {
            fields.push(Field::new(format!("tile_{suffix}"), DataType::UInt32, false));
            columns.push(Arc::new(UInt32Array::from_iter_values(pairs.iter().map(|p| side(p).tile.unwrap_or(0) as u32))));
        } else {
            fields.push(Field::new(format!("tiles_{suffix}"), DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, true))), false));
            let mut list = ListBuilder::new(UInt32Builder::new());
            for p in pairs {
                list.values().append_slice(&side(p).covering.iter().map(|&i| i as u32).collect::<Vec<_>>());
                list.append(true);
            }
            columns.push(Arc::new(list.finish()));
        }
        let slices: Vec<Vec<Option<(usize, usize)>>> = pairs
            .iter()
            .map(|p| bounding_slice(&index.granules[side(p).granule].tiles, &side(p).covering, index.slice_names.len()))
            .collect();
        for (k, name) in index.slice_names.iter().enumerate() {
            for (end, label) in [(false, "start"), (true, "end")] {
                fields.push(Field::new(format!("{name}_{label}_{suffix}"), DataType::Int64, true));
                let values = slices.iter().map(|s| s[k].map(|r| if end { r.1 as i64 } else { r.0 as i64 }));
                columns.push(Arc::new(Int64Array::from_iter(values)));
            }
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}
