//! `colocate(...)` joins: the pairs equal a brute-force check written here (distance from
//! 3-D unit vectors, not the haversine the engine uses), on random points near the
//! antimeridian and the poles and at the time edges; the plan is a ColocateJoinExec,
//! never a nested loop; against 2000 swath granules the scan reads only those near the points.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use datafusion::prelude::SessionContext;

use crate::common;

const R_KM: f64 = 6371.0088;

/// Great-circle distance from the angle between unit vectors (atan2 of cross and dot).
fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let v = |(lat, lon): (f64, f64)| {
        let (p, l) = (f64::to_radians(lat), f64::to_radians(lon));
        [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
    };
    let (u, w) = (v(a), v(b));
    let dot = u[0] * w[0] + u[1] * w[1] + u[2] * w[2];
    let cross = [u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]];
    let norm = (cross[0].powi(2) + cross[1].powi(2) + cross[2].powi(2)).sqrt();
    R_KM * norm.atan2(dot)
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Points (id, lat, lon, time µs) clustered around a few places, including the antimeridian and both poles.
fn points(rng: &mut Lcg, n: usize) -> Vec<(i64, f64, f64, i64)> {
    let centres = [(0.0, 179.9), (89.9, 0.0), (-89.95, 120.0), (45.0, -30.0), (-10.0, -179.95)];
    (0..n)
        .map(|i| {
            let (clat, clon) = centres[i % centres.len()];
            let lat = (clat + (rng.next() - 0.5) * 0.6).clamp(-90.0, 90.0);
            let lon = clon + (rng.next() - 0.5) * 1.2;
            let lon = (lon + 180.0).rem_euclid(360.0) - 180.0;
            // Times on a 10-minute grid: some pairs are exactly max_dt apart.
            let t = (rng.next() * 12.0).floor() as i64 * 600_000_000;
            (i as i64, lat, lon, t)
        })
        .collect()
}

fn table(rows: &[(i64, f64, f64, i64)]) -> Arc<MemTable> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("lat", DataType::Float64, true),
        Field::new("lon", DataType::Float64, true),
        Field::new("time", ts, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.3)).with_timezone("UTC")),
        ],
    )
    .expect("batch");
    // Two partitions on the larger side, as a scan would give.
    let half = batch.num_rows() / 2;
    Arc::new(MemTable::try_new(schema, vec![vec![batch.slice(0, half)], vec![batch.slice(half, batch.num_rows() - half)]]).expect("table"))
}

async fn pairs(ctx: &SessionContext, sql: &str) -> (BTreeSet<(i64, i64)>, String) {
    let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let plan = df.create_physical_plan().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = displayable(plan.as_ref()).indent(false).to_string();
    let batches = collect(plan, ctx.task_ctx()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = BTreeSet::new();
    for b in &batches {
        let (a, c) = (b.column(0).as_primitive::<Int64Type>(), b.column(1).as_primitive::<Int64Type>());
        for i in 0..b.num_rows() {
            assert!(out.insert((a.value(i), c.value(i))), "pair ({}, {}) twice", a.value(i), c.value(i));
        }
    }
    (out, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colocate_equals_brute_force_and_is_an_index_join() {
    let mut rng = Lcg(42);
    let (a, b) = (points(&mut rng, 300), points(&mut rng, 3000));
    let ctx = common::context();
    ctx.register_table("a", table(&a)).expect("a");
    ctx.register_table("b", table(&b)).expect("b");
    for (radius, dt) in [(10.0, 600.0), (35.0, 1800.0), (0.5, 0.0)] {
        let sql = format!("SELECT a.id, b.id FROM a JOIN b ON colocate(a.lat, a.lon, a.time, b.lat, b.lon, b.time, {radius}, {dt})");
        let (got, plan) = pairs(&ctx, &sql).await;
        assert!(plan.contains("ColocateJoinExec"), "{plan}");
        assert!(!plan.contains("NestedLoopJoinExec") && !plan.contains("CrossJoinExec"), "{plan}");
        let mut want = BTreeSet::new();
        let mut edge = BTreeSet::new();
        for p in &a {
            for q in &b {
                let d = distance_km((p.1, p.2), (q.1, q.2));
                if (p.3 - q.3).abs() as f64 > dt * 1e6 {
                    continue;
                }
                if (d - radius).abs() <= 1e-9 * radius.max(1.0) {
                    edge.insert((p.0, q.0)); // on the circle: either answer is right
                } else if d < radius {
                    want.insert((p.0, q.0));
                }
            }
        }
        let got_core: BTreeSet<_> = got.difference(&edge).copied().collect();
        assert_eq!(got_core, want, "radius {radius} km, dt {dt} s: {} pairs found, {} expected", got.len(), want.len());
        assert!(!want.is_empty() || radius < 1.0, "the case radius {radius} has no pairs: not a test");
        // Extra conditions still apply, and the sides may come in either order.
        let sql = format!(
            "SELECT a.id, b.id FROM b JOIN a ON colocate(b.lat, b.lon, b.time, a.lat, a.lon, a.time, {radius}, {dt}) AND a.id % 2 = 0"
        );
        let (got, plan) = pairs(&ctx, &sql).await;
        assert!(plan.contains("ColocateJoinExec"), "{plan}");
        let even: BTreeSet<_> = want.iter().filter(|(x, _)| x % 2 == 0).copied().collect();
        assert_eq!(got.difference(&edge).copied().collect::<BTreeSet<_>>(), even);
    }
    // A time exactly max_dt apart is a match; one microsecond more is not.
    let (got, _) = pairs(&ctx, "SELECT a.id, b.id FROM a JOIN b ON colocate(a.lat, a.lon, a.time, b.lat, b.lon, b.time, 100, 600) WHERE a.time <> b.time").await;
    assert!(got.iter().all(|(x, y)| (a[*x as usize].3 - b[*y as usize].3).abs() == 600_000_000), "only pairs 10 minutes apart");
    assert!(!got.is_empty());
}

/// The scan's metric summed over the plan.
fn metric(plan: &Arc<dyn ExecutionPlan>, node: &str, name: &str) -> usize {
    let own = if plan.name() == node {
        plan.metrics().and_then(|m| m.aggregate_by_name().sum_by_name(name)).map_or(0, |v| v.as_usize())
    } else {
        0
    };
    own + plan.children().into_iter().map(|c| metric(c, node, name)).sum::<usize>()
}

/// 2000 swath granules against 60 "drifters": the swath scan opens only granules near them,
/// and the pairs are those a brute force over every pixel finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colocate_with_swaths_reads_only_near_granules() {
    let location = format!("{}/swaths/*.nc", common::index_fixtures().display());
    let ctx = common::context();
    common::run(&ctx, &format!("CREATE EXTERNAL TABLE sw STORED AS NETCDF LOCATION '{location}' OPTIONS ('index' 'none')"))
        .await
        .expect("swaths");
    // Drifters: on pixels of some granules (so that there are pairs), moved by a few km and minutes.
    let sample = common::run(&ctx, "SELECT lat, lon, time FROM sw WHERE row = 30 AND cell = 10 AND sst IS NOT NULL ORDER BY granule LIMIT 60")
        .await
        .expect("sample");
    let mut drifters = Vec::new();
    for b in &sample {
        let (lat, lon) = (b.column(0).as_primitive::<datafusion::arrow::datatypes::Float64Type>(), b.column(1).as_primitive::<datafusion::arrow::datatypes::Float64Type>());
        let time = b.column(2).as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            let k = drifters.len() as f64;
            drifters.push((drifters.len() as i64, lat.value(i) + 0.03 * (k % 3.0 - 1.0), lon.value(i) + 0.02, time.value(i) + 120_000_000));
        }
    }
    ctx.register_table("d", table(&drifters)).expect("d");
    let sql = "SELECT d.id, sw.row * 100 + sw.cell + 10000 * CAST(regexp_replace(CAST(sw.granule AS VARCHAR), '.*swath_([0-9]+).nc', '$1') AS BIGINT) AS pixel \
               FROM d JOIN sw ON colocate(d.lat, d.lon, d.time, sw.lat, sw.lon, sw.time, 25, 1800)";
    let df = ctx.sql(sql).await.expect("plan");
    let plan = df.create_physical_plan().await.expect("physical plan");
    let text = displayable(plan.as_ref()).indent(false).to_string();
    assert!(text.contains("ColocateJoinExec") && text.contains("restricted"), "{text}");
    let batches = collect(plan.clone(), ctx.task_ctx()).await.expect("run");
    let got: BTreeSet<(i64, i64)> = batches
        .iter()
        .flat_map(|b| {
            let (x, y) = (b.column(0).as_primitive::<Int64Type>().clone(), b.column(1).as_primitive::<Int64Type>().clone());
            (0..b.num_rows()).map(move |i| (x.value(i), y.value(i))).collect::<Vec<_>>()
        })
        .collect();
    // Brute force over every pixel of every granule (read without the join).
    let all = common::run(&ctx, "SELECT lat, lon, time, row * 100 + cell + 10000 * CAST(regexp_replace(CAST(granule AS VARCHAR), '.*swath_([0-9]+).nc', '$1') AS BIGINT) FROM sw")
        .await
        .expect("all pixels");
    let mut want = BTreeSet::new();
    for b in &all {
        let lat = b.column(0).as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let lon = b.column(1).as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let time = b.column(2).as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        let pixel = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            if lat.is_null(i) || lon.is_null(i) || time.is_null(i) {
                continue;
            }
            for d in &drifters {
                if (d.3 - time.value(i)).abs() <= 1_800_000_000 && distance_km((d.1, d.2), (lat.value(i), lon.value(i))) <= 25.0 - 1e-9 {
                    want.insert((d.0, pixel.value(i)));
                }
            }
        }
    }
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let (read, total) = (metric(&plan, "SampleScanExec", "granules_read"), metric(&plan, "SampleScanExec", "granules_total"));
    eprintln!("colocate: {} pairs; the swath scan opened {read} of {total} granules", got.len());
    assert!(read <= 200, "opened {read} of {total} granules for 60 drifters");
}

/// The documented nearest-match pattern: one row per drifter, its nearest pixel, with
/// distance_km and dt_seconds as columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_match_pattern_keeps_the_nearest_pixel() {
    let mut rng = Lcg(7);
    let (a, b) = (points(&mut rng, 200), points(&mut rng, 2000));
    let ctx = common::context();
    ctx.register_table("a", table(&a)).expect("a");
    ctx.register_table("b", table(&b)).expect("b");
    let sql = "SELECT id_a, id_b, distance_km, dt_seconds FROM (
                 SELECT a.id AS id_a, b.id AS id_b,
                        haversine_km(a.lat, a.lon, b.lat, b.lon) AS distance_km,
                        abs(CAST(b.time AS BIGINT) - CAST(a.time AS BIGINT)) / 1e6 AS dt_seconds,
                        row_number() OVER (PARTITION BY a.id ORDER BY haversine_km(a.lat, a.lon, b.lat, b.lon), b.id) AS nearest
                 FROM a JOIN b ON colocate(a.lat, a.lon, a.time, b.lat, b.lon, b.time, 20, 1200)
               ) WHERE nearest = 1 ORDER BY id_a";
    let batches = common::run(&ctx, sql).await.expect("nearest");
    let mut got = Vec::new();
    for batch in &batches {
        let (x, y) = (batch.column(0).as_primitive::<Int64Type>(), batch.column(1).as_primitive::<Int64Type>());
        let (d, t) = (batch.column(2).as_primitive::<datafusion::arrow::datatypes::Float64Type>(), batch.column(3).as_primitive::<datafusion::arrow::datatypes::Float64Type>());
        for i in 0..batch.num_rows() {
            got.push((x.value(i), y.value(i), d.value(i), t.value(i)));
        }
    }
    let mut want = Vec::new();
    for p in &a {
        let best = b
            .iter()
            .filter(|q| (p.3 - q.3).abs() <= 1_200_000_000)
            .map(|q| (distance_km((p.1, p.2), (q.1, q.2)), q))
            .filter(|(d, _)| *d <= 20.0)
            .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.0.cmp(&y.1.0)));
        if let Some((d, q)) = best {
            want.push((p.0, q.0, d, (p.3 - q.3).abs() as f64 / 1e6));
        }
    }
    assert!(want.len() > 20, "too few drifters with a match: {}", want.len());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.0, g.1), (w.0, w.1), "nearest pixel of drifter {}", w.0);
        assert!((g.2 - w.2).abs() < 1e-6 && g.3 == w.3, "{g:?} vs {w:?}");
    }
}

/// `ST_DWithin` of two point columns in a join takes the same path, with its planar meaning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn st_dwithin_join_is_an_index_join_with_planar_distance() {
    let mut rng = Lcg(11);
    let (a, b) = (points(&mut rng, 200), points(&mut rng, 1500));
    let ctx = common::context();
    ctx.register_table("a", table(&a)).expect("a");
    ctx.register_table("b", table(&b)).expect("b");
    let sql = "SELECT a.id, b.id FROM a JOIN b ON st_dwithin(st_point(a.lon, a.lat), st_point(b.lon, b.lat), 0.2)";
    let (got, plan) = pairs(&ctx, sql).await;
    assert!(plan.contains("ColocateJoinExec") && !plan.contains("NestedLoopJoinExec"), "{plan}");
    let mut want = BTreeSet::new();
    for p in &a {
        for q in &b {
            let planar = ((p.1 - q.1).powi(2) + (p.2 - q.2).powi(2)).sqrt();
            if planar <= 0.2 - 1e-12 {
                want.insert((p.0, q.0));
            }
        }
    }
    assert!(want.len() > 50, "{} pairs", want.len());
    assert_eq!(got, want);
}
