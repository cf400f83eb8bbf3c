//! Smoke test of the gridded scan on a real GHRSST L4 file (values checked in tests/ against xarray).

use datafusion::arrow::util::pretty::pretty_format_batches;

#[tokio::test]
async fn real_ghrsst_file_is_a_table() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/real/grid_sst");
    let ctx = oceanql_engine::create_context().unwrap();
    ctx.sql(&format!("CREATE EXTERNAL TABLE sst STORED AS NETCDF LOCATION '{dir}'")).await.unwrap();
    let df = ctx
        .sql("SELECT count(*) AS n, count(analysed_sst) AS valid, min(lat), max(lon), min(time) FROM sst WHERE lat BETWEEN 40 AND 42")
        .await
        .unwrap();
    let out = pretty_format_batches(&df.collect().await.unwrap()).unwrap().to_string();
    println!("{out}");
    let plan = ctx.sql("EXPLAIN ANALYZE SELECT avg(analysed_sst) FROM sst WHERE lat BETWEEN 40 AND 42 AND lon < 30").await.unwrap();
    let out = pretty_format_batches(&plan.collect().await.unwrap()).unwrap().to_string();
    println!("{out}");
    assert!(out.contains("granules_read=1"), "{out}");
}
