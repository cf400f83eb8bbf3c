//! The granule and tile index: incremental refresh, pruning 2000 swath granules by
//! footprint (checked against numpy/shapely in tests/python/make_index_fixtures.py),
//! and aggregates answered from tile statistics equal to full scans (property test).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use oceanql_connectors::sample::CoordNames;
use oceanql_engine::grid_table::GridFormat;
use oceanql_engine::indexing::{IndexSetting, ProductSpec, build_index};

use crate::common;

fn spec(location: &str, index: IndexSetting) -> ProductSpec {
    ProductSpec { format: GridFormat::Netcdf, pattern: None, locations: vec![location.to_string()], names: CoordNames::default(), index, tile_size: None }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let p = entry.expect("entry").path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
        }
    }
}

#[test]
fn refresh_reads_only_new_changed_and_removed_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daily = tmp.path().join("daily");
    copy_dir(&common::fixtures().join("daily"), &daily);
    let location = format!("{}/*.nc", daily.display());
    let spec = spec(&location, IndexSetting::Beside);
    let (dir, first, index) = build_index(&spec, &|_, _| {}).expect("first index");
    assert!(dir.starts_with(&format!("{}/.oceanql-index/", daily.display())), "{dir}");
    assert_eq!((first.added.len(), first.changed.len(), first.removed.len(), first.unchanged), (30, 0, 0, 0));
    assert!(index.granules.iter().all(|g| g.has_stats && g.tiles.len() == 16));

    let (_, again, _) = build_index(&spec, &|_, _| {}).expect("second index");
    assert_eq!((again.added.len(), again.changed.len(), again.removed.len(), again.unchanged), (0, 0, 0, 30));

    let touched = daily.join("sst_20200105.nc");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    std::fs::File::options().write(true).open(&touched).and_then(|f| f.set_modified(later)).expect("touch");
    let removed = daily.join("sst_20200107.nc");
    std::fs::remove_file(&removed).expect("remove");
    let added = daily.join("sst_20200131.nc");
    std::fs::copy(daily.join("sst_20200101.nc"), &added).expect("add");

    let (_, refresh, index) = build_index(&spec, &|_, _| {}).expect("refreshed index");
    let path = |p: &Path| p.to_string_lossy().into_owned();
    assert_eq!(refresh.added, vec![path(&added)]);
    assert_eq!(refresh.changed, vec![path(&touched)]);
    assert_eq!(refresh.removed, vec![path(&removed)]);
    assert_eq!(refresh.unchanged, 28);
    let names: Vec<&str> = index.granules.iter().map(|g| g.granule.as_str()).collect();
    assert_eq!(names.len(), 30);
    assert!(!names.contains(&path(&removed).as_str()) && names.contains(&path(&added).as_str()));
    let entry = index.granules.iter().find(|g| g.granule == path(&touched)).expect("touched entry");
    assert_eq!(entry.version.modified, later.duration_since(std::time::UNIX_EPOCH).expect("epoch").as_micros() as i64);
}

/// The scan's metric `name`, summed, for the plan of `sql`; and the result.
async fn run_with_metric(ctx: &SessionContext, sql: &str, scan: &str, name: &str) -> (Vec<RecordBatch>, usize) {
    let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let plan = df.create_physical_plan().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches = collect(plan.clone(), ctx.task_ctx()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    (batches, metric(&plan, scan, name))
}

fn metric(plan: &Arc<dyn ExecutionPlan>, node: &str, name: &str) -> usize {
    let own = if plan.name() == node {
        plan.metrics().and_then(|m| m.aggregate_by_name().sum_by_name(name)).map_or(0, |v| v.as_usize())
    } else {
        0
    };
    own + plan.children().into_iter().map(|c| metric(c, node, name)).sum::<usize>()
}

fn f64_column(batches: &[RecordBatch], col: usize) -> Vec<Option<f64>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = cast(b.column(col), &DataType::Float64).expect("cast");
            let c = c.as_any().downcast_ref::<Float64Array>().expect("f64").clone();
            (0..c.len()).map(move |i| c.is_valid(i).then(|| c.value(i)))
        })
        .collect()
}

async fn ddl(ctx: &SessionContext, sql: &str) {
    common::run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_prunes_2000_swaths_by_footprint() {
    let fixtures = common::index_fixtures();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("expected.json")).expect("expected.json")).expect("json");
    let tmp = tempfile::tempdir().expect("tempdir");
    let index_dir = tmp.path().join("index").to_string_lossy().into_owned();
    let location = format!("{}/swaths/*.nc", fixtures.display());
    let (_, refresh, index) = build_index(&spec(&location, IndexSetting::At(index_dir.clone())), &|_, _| {}).expect("index");
    assert_eq!((refresh.added.len(), index.granules.len()), (2000, 2000));

    let ctx = common::context();
    ddl(&ctx, &format!("CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '{location}' OPTIONS ('index' '{index_dir}')")).await;
    ddl(&ctx, &format!("CREATE EXTERNAL TABLE raw STORED AS NETCDF LOCATION '{location}' OPTIONS ('index' 'none')")).await;
    for w in expected.as_array().expect("windows") {
        let day = w["day"].as_i64().expect("day");
        let (la, lo) = (&w["lat"], &w["lon"]);
        let filter = format!(
            "time >= TIMESTAMP '2024-01-01T00:00:00Z' + INTERVAL '{day} days' AND time < TIMESTAMP '2024-01-01T00:00:00Z' + INTERVAL '{} days' \
             AND lat BETWEEN {} AND {} AND lon BETWEEN {} AND {}",
            day + 1,
            la[0],
            la[1],
            lo[0],
            lo[1]
        );
        let rows = |t: &str| format!("SELECT granule, row, cell, sst FROM {t} WHERE {filter} ORDER BY granule, row, cell");
        let (indexed, read) = run_with_metric(&ctx, &rows("t"), "SampleScanExec", "granules_read").await;
        let (plain, _) = run_with_metric(&ctx, &rows("raw"), "SampleScanExec", "granules_read").await;
        let n: usize = indexed.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(n as i64, w["rows"].as_i64().expect("rows"), "rows in {filter}");
        assert_eq!(indexed, plain, "the index changes the rows of {filter}");
        let count = |k: &str| w[k].as_array().expect("list").len();
        let (with_rows, narrow, wide) = (count("granules_with_rows"), count("footprint_narrow"), count("footprint_wide"));
        assert!(
            narrow.max(with_rows) <= read && read <= wide,
            "{filter}: opened {read} granules; shapely footprints intersect {narrow} (box narrowed by 0.1 deg) to {wide} (widened), {with_rows} have rows"
        );
        let sums = format!("SELECT count(sst), sum(sst) FROM t WHERE {filter}");
        let (b, _) = run_with_metric(&ctx, &sums, "SampleScanExec", "granules_read").await;
        assert_eq!(f64_column(&b, 0), vec![Some(w["sst_count"].as_f64().expect("count"))]);
        let sum = f64_column(&b, 1)[0].unwrap_or(0.0);
        let want = w["sst_sum"].as_f64().expect("sum");
        assert!((sum - want).abs() <= 1e-9 * want.abs().max(1.0), "{filter}: sum {sum} vs numpy {want}");
    }
}

/// A small deterministic generator for the property test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// Aggregates over random windows from tile statistics equal those of a full scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_from_tile_statistics_equal_full_scans() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daily = format!("{}/daily/*.nc", common::fixtures().display());
    let swaths = format!("{}/swaths/*.nc", common::index_fixtures().display());
    let ctx = common::context();
    // Swath granules of 60 x 20 pixels in tiles of 10 x 5 (the default, one block of 1200 pixels,
    // would rarely lie wholly inside a random box).
    for (name, location, tile_size) in [("grid", &daily, None), ("swath", &swaths, Some((10, 5)))] {
        let dir = tmp.path().join(name).to_string_lossy().into_owned();
        let mut product = spec(location, IndexSetting::At(dir.clone()));
        product.tile_size = tile_size;
        build_index(&product, &|_, _| {}).expect("index");
        let size = tile_size.map_or(String::new(), |(a, b)| format!(", 'tile_size' '{a}x{b}'"));
        ddl(&ctx, &format!("CREATE EXTERNAL TABLE {name} STORED AS NETCDF LOCATION '{location}' OPTIONS ('index' '{dir}'{size})")).await;
        ddl(&ctx, &format!("CREATE EXTERNAL TABLE {name}_raw STORED AS NETCDF LOCATION '{location}' OPTIONS ('index' 'none')")).await;
    }
    let mut rng = Lcg(7);
    let (mut from_stats, mut queries) = (0, 0);
    for case in 0..40 {
        let (table, lat_span, lon_span, days) = if case % 2 == 0 { ("grid", (-10.0, 10.0), (-20.0, 20.0), 30.0) } else { ("swath", (-60.0, 60.0), (-180.0, 180.0), 4.0) };
        let (a, b) = (rng.between(lat_span.0, lat_span.1), rng.between(lat_span.0, lat_span.1));
        let (c, d) = (rng.between(lon_span.0, lon_span.1), rng.between(lon_span.0, lon_span.1));
        let t0 = rng.between(0.0, days * 0.7);
        let t1 = t0 + rng.between(0.5, days * 0.5);
        let window = format!(
            "lat BETWEEN {:.3} AND {:.3} AND lon BETWEEN {:.3} AND {:.3} \
             AND time >= TIMESTAMP '2020-01-01T00:00:00Z' + INTERVAL '{} seconds' AND time < TIMESTAMP '2020-01-01T00:00:00Z' + INTERVAL '{} seconds'",
            a.min(b),
            a.max(b),
            c.min(d),
            c.max(d),
            (t0 * 86400.0) as i64 + if table == "swath" { 126_230_400 } else { 0 },
            (t1 * 86400.0) as i64 + if table == "swath" { 126_230_400 } else { 0 },
        );
        let var = "sst";
        let group = if case % 4 < 2 { "" } else { "date_trunc('day', time) AS day," };
        let by = if group.is_empty() { "" } else { "GROUP BY 1 ORDER BY 1" };
        let select = |t: &str| {
            format!("SELECT {group} count(*), count({var}), min({var}), max({var}), sum({var}), avg({var}) FROM {t} WHERE {window} {by}")
        };
        let (fast, tiles) = run_with_metric(&ctx, &select(table), "TileStatsAggregateExec", "tiles_from_statistics").await;
        let (slow, _) = run_with_metric(&ctx, &select(&format!("{table}_raw")), "TileStatsAggregateExec", "tiles_from_statistics").await;
        queries += 1;
        from_stats += usize::from(tiles > 0);
        let first = if group.is_empty() { 0 } else { 1 };
        for col in first..first + 6 {
            let (x, y) = (f64_column(&fast, col), f64_column(&slow, col));
            assert_eq!(x.len(), y.len(), "{}: groups differ", select(table));
            for (p, q) in x.iter().zip(&y) {
                let same = match (p, q) {
                    (Some(p), Some(q)) => (p - q).abs() <= 1e-9 * q.abs().max(1.0),
                    (None, None) => true,
                    _ => false,
                };
                assert!(same, "{}: column {col}: {p:?} from statistics, {q:?} from the full scan", select(table));
            }
        }
        if !group.is_empty() {
            let days = |b: &[RecordBatch]| b.iter().flat_map(|b| {
                let c = cast(b.column(0), &DataType::Int64).expect("cast");
                c.as_any().downcast_ref::<Int64Array>().expect("i64").values().to_vec()
            }).collect::<Vec<_>>();
            assert_eq!(days(&fast), days(&slow));
        }
    }
    assert!(from_stats * 2 >= queries, "only {from_stats} of {queries} queries used tile statistics");
}
