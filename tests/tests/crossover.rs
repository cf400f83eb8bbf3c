//! `crossover()` cross-checked against an independent reference, tests/python/crossover_reference.py
//! (shapely + pyproj): the script writes two products of swath granules (mid-latitudes, across the
//! antimeridian, around either pole; crossings within and outside the time window, a gap of exactly
//! max_dt, parallel overlapping tracks, a near miss, a grazing sliver, granules that touch nothing),
//! and from the same pixel centres computes the footprints (unsimplified), which pairs come within
//! max_dt and intersect, their WGS84 overlap area, and which pixels of each side lie in the overlap.
//!
//! The rule for pairs: our footprints are simplified at `FOOTPRINT_TOLERANCE` (0.05°), which moves
//! an edge by up to that much, so a sliver can appear or disappear. A reference pair whose overlap
//! is below [`sliver_km2`] (0.5% of the smaller footprint, at least 50 km²) may be missing from
//! crossover(); a pair crossover() returns must be one the reference has within max_dt, and, if
//! the reference footprints do not overlap by more than a sliver, they must come within 0.1°
//! (twice the tolerance) of each other. Every other reference pair must be returned, with the
//! same dt_seconds and granule start times and an overlap area within 1%.
//!
//! Slices: each granule is cut into 6 tiles (lat/lon chunks of 32 x 64), and the slice columns
//! of a row must hold the pixels of that side whose centre lies in the reference overlap shrunk
//! by 0.1°. In 'tiles' mode every tile pair must belong to a returned granule pair and to its
//! tiles_a/tiles_b, and (when all its tiles are within max_dt) the tile pairs' overlaps sum to
//! 90-101% of the granules' (tile footprints leave a pixel-wide seam between tiles).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use serde_json::Value;

use crate::common;

const MAX_DT: u64 = 3600;
const REL: f64 = 0.01;
/// Lines x cells of every generated granule (crossover_reference.py NJ, NI).
const SHAPE: (i64, i64) = (600, 100);

/// Below this overlap (km²) a pair is a sliver that the 0.05° simplification may add or drop.
fn sliver_km2(area_a: f64, area_b: f64) -> f64 {
    (0.005 * area_a.min(area_b)).max(50.0)
}

/// Writes the products into `dir` and returns the reference.
fn reference(dir: &std::path::Path) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/crossover_reference.py");
    let out = Command::new(common::python())
        .arg(&script)
        .arg(dir)
        .arg(MAX_DT.to_string())
        .output()
        .expect("run crossover_reference.py");
    assert!(
        out.status.success(),
        "crossover_reference.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.join("reference.json")).expect("read reference.json")).expect("reference.json")
}

/// The batches of a query, read column by column (granule paths cut to their file names).
struct Rows {
    batches: Vec<RecordBatch>,
}

impl Rows {
    fn column(&self, name: &str, to: &DataType) -> Vec<std::sync::Arc<dyn Array>> {
        self.batches.iter().map(|b| cast(b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")), to).expect("cast")).collect()
    }
    fn text(&self, name: &str) -> Vec<String> {
        let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        self.column(name, &DataType::Utf8).iter().flat_map(|c| c.as_string::<i32>().iter().map(|s| base(s.expect("text"))).collect::<Vec<_>>()).collect()
    }
    fn f64(&self, name: &str) -> Vec<f64> {
        self.column(name, &DataType::Float64).iter().flat_map(|c| c.as_primitive::<Float64Type>().iter().map(|x| x.expect("f64")).collect::<Vec<_>>()).collect()
    }
    fn lists(&self, name: &str) -> Vec<Vec<i64>> {
        let to = DataType::List(std::sync::Arc::new(datafusion::arrow::datatypes::Field::new_list_field(DataType::Int64, true)));
        let list = |c: &std::sync::Arc<dyn Array>| -> Vec<Vec<i64>> {
            let c = c.as_list::<i32>();
            (0..c.len()).map(|i| c.value(i).as_primitive::<Int64Type>().iter().map(|x| x.expect("tile")).collect()).collect()
        };
        self.column(name, &to).iter().flat_map(list).collect()
    }
    fn i64(&self, name: &str) -> Vec<Option<i64>> {
        self.column(name, &DataType::Int64).iter().flat_map(|c| c.as_primitive::<Int64Type>().iter().collect::<Vec<_>>()).collect()
    }
}

async fn query(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Rows {
    Rows { batches: common::run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) }
}

fn num(v: &Value, what: &str) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("reference {what}: {v}"))
}

/// The slice columns of one side: [row_start, row_end, cell_start, cell_end].
const SLICE: [&str; 4] = ["row_start", "row_end", "cell_start", "cell_end"];

#[tokio::test(flavor = "multi_thread")]
async fn crossover_crosscheck_shapely_pyproj() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = reference(tmp.path());
    let ctx = common::context();
    for side in ["a", "b"] {
        let sql = format!(
            "CREATE EXTERNAL TABLE {side} STORED AS NETCDF LOCATION '{}/{side}/*.nc' OPTIONS ('index' 'none')",
            tmp.path().display()
        );
        common::run(&ctx, &sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let granules = &r["granules"];
    let area = |side: &str, g: &str| num(&granules[side][g]["area_km2"], "area_km2");
    let start = |side: &str, g: &str| num(&granules[side][g]["time"][0], "time") as i64 * 1_000_000;
    let reference: BTreeMap<(String, String), &Value> = r["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| ((p["a"].as_str().expect("a").to_string(), p["b"].as_str().expect("b").to_string()), p))
        .collect();

    // Granule mode.
    let mut cols = ["granule_a", "granule_b", "time_a", "time_b", "dt_seconds", "overlap_km2", "tiles_a", "tiles_b"].join(", ");
    for side in ["a", "b"] {
        for s in SLICE {
            cols += &format!(", {s}_{side}");
        }
    }
    let rows = query(&ctx, &format!("SELECT {cols} FROM crossover('a', 'b', {MAX_DT})")).await;
    let (ga, gb, dt, km2) = (rows.text("granule_a"), rows.text("granule_b"), rows.f64("dt_seconds"), rows.f64("overlap_km2"));
    let (time_a, time_b) = (rows.i64("time_a"), rows.i64("time_b"));
    let (tiles_a, tiles_b) = (rows.lists("tiles_a"), rows.lists("tiles_b"));
    let slice = |side: &str| -> Vec<[Option<i64>; 4]> {
        let c: Vec<Vec<Option<i64>>> = SLICE.iter().map(|s| rows.i64(&format!("{s}_{side}"))).collect();
        (0..ga.len()).map(|i| [c[0][i], c[1][i], c[2][i], c[3][i]]).collect()
    };
    let (slice_a, slice_b) = (slice("a"), slice("b"));

    let mut failures = vec![];
    let mut ours = BTreeMap::new();
    let (mut max_rel, mut compared, mut narrowed) = (0.0f64, 0, 0);
    for i in 0..ga.len() {
        let key = (ga[i].clone(), gb[i].clone());
        let name = format!("{} x {}", key.0, key.1);
        if ours.insert(key.clone(), i).is_some() {
            failures.push(format!("{name}: returned twice"));
        }
        let Some(p) = reference.get(&key) else {
            failures.push(format!("{name}: returned (dt {} s, {} km²), but the reference has no such pair within {MAX_DT} s", dt[i], km2[i]));
            continue;
        };
        let sliver = sliver_km2(area("a", &key.0), area("b", &key.1));
        let r_km2 = num(&p["overlap_km2"], "overlap_km2");
        if r_km2 < sliver {
            let d = num(&p["distance_deg"], "distance_deg");
            println!("{name}: {:.0} km², a sliver (reference {r_km2:.0} km², footprints {d:.3}° apart)", km2[i]);
            if d > 0.1 {
                failures.push(format!("{name}: returned ({} km²), but the reference footprints are {d}° apart", km2[i]));
            }
            continue;
        }
        let r_dt = num(&p["dt_seconds"], "dt_seconds");
        if dt[i] != r_dt {
            failures.push(format!("{name}: dt_seconds {}, reference {r_dt}", dt[i]));
        }
        if time_a[i] != Some(start("a", &key.0)) || time_b[i] != Some(start("b", &key.1)) {
            failures.push(format!("{name}: start times {:?} {:?} µs, reference {} {}", time_a[i], time_b[i], start("a", &key.0), start("b", &key.1)));
        }
        let rel = (km2[i] - r_km2).abs() / r_km2;
        println!("{name}: dt {} s, overlap {:.0} km², reference {r_km2:.0} km² ({:+.3}%)", dt[i], km2[i], 100.0 * (km2[i] / r_km2 - 1.0));
        max_rel = max_rel.max(rel);
        compared += 1;
        if rel > REL {
            failures.push(format!("{name}: overlap {} km², reference {r_km2} km² ({:+.2}%)", km2[i], 100.0 * (km2[i] / r_km2 - 1.0)));
        }
        // The slices of each side must hold the pixels whose centre is inside the overlap.
        for (side, s, pixels) in [("a", &slice_a[i], &p["pixels_a"]), ("b", &slice_b[i], &p["pixels_b"])] {
            let Some(px) = pixels.as_array() else { continue };
            let px: Vec<i64> = px.iter().map(|v| v.as_i64().expect("pixel index")).collect();
            let [Some(r0), Some(r1), Some(c0), Some(c1)] = *s else {
                failures.push(format!("{name}: slice of {side} {s:?}"));
                continue;
            };
            if !(r0 <= px[0] && px[1] < r1 && c0 <= px[2] && px[3] < c1) {
                failures.push(format!(
                    "{name}: slice of {side} rows [{r0}, {r1}) cells [{c0}, {c1}) misses the overlap's pixels rows [{}, {}] cells [{}, {}]",
                    px[0], px[1], px[2], px[3]
                ));
            }
            narrowed += usize::from((r1 - r0, c1 - c0) != SHAPE);
        }
    }
    let mut expected = 0;
    for (key, p) in &reference {
        let r_km2 = num(&p["overlap_km2"], "overlap_km2");
        if r_km2 >= sliver_km2(area("a", &key.0), area("b", &key.1)) {
            expected += 1;
            if !ours.contains_key(key) {
                failures.push(format!("{} x {}: missing (reference overlap {r_km2} km², dt {} s)", key.0, key.1, p["dt_seconds"]));
            }
        }
    }

    // Tiles mode: every tile pair belongs to a granule pair, its tiles are among those the granule
    // pair lists as covering the overlap, and each granule pair has tile pairs.
    let sql = format!("SELECT granule_a, granule_b, tile_a, tile_b, dt_seconds, overlap_km2 FROM crossover('a', 'b', {MAX_DT}, 'tiles')");
    let tiles = query(&ctx, &sql).await;
    let (ta, tb, t_dt, t_km2) = (tiles.text("granule_a"), tiles.text("granule_b"), tiles.f64("dt_seconds"), tiles.f64("overlap_km2"));
    let (tile_a, tile_b) = (tiles.i64("tile_a"), tiles.i64("tile_b"));
    let mut tile_km2: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut tile_pairs = BTreeSet::new();
    for i in 0..ta.len() {
        let key = (ta[i].clone(), tb[i].clone());
        let Some(&g) = ours.get(&key) else {
            failures.push(format!("tile pair of {} x {}: not a granule pair", key.0, key.1));
            continue;
        };
        if t_dt[i] < dt[g] || t_dt[i] > MAX_DT as f64 {
            failures.push(format!("tile pair of {} x {}: dt {} s, granules {} s", key.0, key.1, t_dt[i], dt[g]));
        }
        let (ka, kb) = (tile_a[i].expect("tile_a"), tile_b[i].expect("tile_b"));
        if !tiles_a[g].contains(&ka) || !tiles_b[g].contains(&kb) {
            failures.push(format!(
                "tile pair {ka} x {kb} of {} x {}: not among the granule pair's tiles {:?} x {:?}",
                key.0, key.1, tiles_a[g], tiles_b[g]
            ));
        }
        *tile_km2.entry(key.clone()).or_default() += t_km2[i];
        tile_pairs.insert((key, ka, kb));
    }
    if tile_pairs.len() != ta.len() {
        failures.push(format!("{} tile pairs, {} distinct", ta.len(), tile_pairs.len()));
    }
    for (key, &g) in &ours {
        let sum = tile_km2.get(key).copied().unwrap_or(0.0);
        // Tile footprints trace pixel centres, so a pixel-wide seam between tiles is not covered.
        // Only when every tile pair is within max_dt (a granule lasts 599 s): else tile pairs
        // may rightly be left out.
        let all_in_time = dt[g] + 600.0 <= MAX_DT as f64;
        let significant = km2[g] >= sliver_km2(area("a", &key.0), area("b", &key.1));
        println!("{} x {}: tile pairs' overlaps sum to {sum:.0} km² ({:.1}% of the granules')", key.0, key.1, 100.0 * sum / km2[g]);
        if all_in_time && significant && !(0.9 * km2[g] <= sum && sum <= 1.01 * km2[g]) {
            failures.push(format!("{} x {}: tile pairs' overlaps sum to {sum} km², the granules' {} km²", key.0, key.1, km2[g]));
        }
    }

    println!(
        "crossover: {} granule pairs ({} reference pairs within {MAX_DT} s, {expected} beyond slivers, {compared} areas compared, \
         max relative difference {:.3}%, {narrowed} slices narrower than a granule), {} tile pairs",
        ga.len(),
        reference.len(),
        100.0 * max_rel,
        ta.len()
    );
    assert!(failures.is_empty(), "{} disagreements with shapely/pyproj:\n{}", failures.len(), failures.join("\n"));
    // The products were made so that the check covers crossings at mid-latitudes, across the
    // antimeridian and around the north pole, and slices narrower than whole granules.
    assert!(compared >= 8, "only {compared} overlaps compared");
    assert!(narrowed >= 8, "only {narrowed} slices narrower than a granule");
}
