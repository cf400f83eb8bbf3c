//! Bad inputs: each is an error that names the file (and what is wrong), never a panic and
//! never a silent partial answer. Registration may fail, or the first query; either is fine as
//! long as one of them returns the error.

use datafusion::error::DataFusionError;

use crate::common;

/// Registers `location` as table `t` and runs `query`; returns the first error.
/// Panics (failing the test) if both succeed or if the engine panics.
async fn first_error(format: &str, location: &str, query: &str) -> String {
    let location = location.replace("${FIXTURES}", &common::fixtures_str());
    let ddl = format!("CREATE EXTERNAL TABLE t STORED AS {format} LOCATION '{location}'");
    let query = query.to_string();
    let task = tokio::spawn({
        let ddl = ddl.clone();
        async move {
            let ctx = common::context();
            common::run(&ctx, &ddl).await?;
            common::run(&ctx, &query).await.map(|b| b.iter().map(|b| b.num_rows()).sum::<usize>())
        }
    });
    let result: Result<usize, DataFusionError> = match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => panic!("the engine panicked on `{ddl}`: {e}"),
        Err(e) => panic!("task failed on `{ddl}`: {e}"),
    };
    match result {
        Ok(rows) => panic!("`{ddl}` then the query succeeded ({rows} rows) instead of failing"),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.to_lowercase().contains("panic"), "the engine panicked: {msg}");
            msg
        }
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "the error should mention '{p}':\n{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_netcdf_names_the_file() {
    let msg = first_error("NETCDF", "${FIXTURES}/bad/corrupt.nc", "SELECT * FROM t").await;
    assert_mentions(&msg, &["corrupt.nc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_file_in_a_glob_names_the_file() {
    // corrupt.nc sorts first among bad/*.nc; whichever file fails must be named
    let msg = first_error("NETCDF", "${FIXTURES}/bad/c*.nc", "SELECT count(*) FROM t").await;
    assert!(msg.contains("corrupt.nc") || msg.contains("cal360.nc"), "the error should name a file:\n{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_netcdf4_names_the_file() {
    let msg = first_error("NETCDF", "${FIXTURES}/bad/truncated.nc", "SELECT sum(val) FROM t").await;
    assert_mentions(&msg, &["truncated.nc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_variable_names_the_file_and_the_variable() {
    // a.nc has `v`, b.nc has `w` instead
    let msg = first_error("NETCDF", "${FIXTURES}/bad/missing_var", "SELECT sum(v) FROM t").await;
    assert_mentions(&msg, &["b.nc", "'v'"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_grids_name_the_file() {
    // a.nc is 2 x 2, b.nc is 3 x 2
    let msg = first_error("NETCDF", "${FIXTURES}/bad/mixed_grids", "SELECT sum(v) FROM t").await;
    assert_mentions(&msg, &["b.nc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_matching_nothing_is_an_error() {
    let msg = first_error("NETCDF", "${FIXTURES}/bad/empty", "SELECT * FROM t").await;
    assert_mentions(&msg, &["bad/empty"]);
    let msg = first_error("NETCDF", "${FIXTURES}/bad/nothing_here_*.nc", "SELECT * FROM t").await;
    assert_mentions(&msg, &["nothing_here_*.nc"]);
    let msg = first_error("NETCDF", "${FIXTURES}/bad/no_such_file.nc", "SELECT * FROM t").await;
    assert_mentions(&msg, &["no_such_file.nc"]);
    let msg = first_error("ZARR", "${FIXTURES}/bad/no_such_store.zarr", "SELECT * FROM t").await;
    assert_mentions(&msg, &["no_such_store.zarr"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_360_day_is_refused_with_the_file_name() {
    let msg = first_error("NETCDF", "${FIXTURES}/bad/cal360.nc", "SELECT * FROM t").await;
    assert_mentions(&msg, &["cal360.nc", "360_day"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn months_since_is_refused_with_the_file_name() {
    let msg = first_error("NETCDF", "${FIXTURES}/bad/months.nc", "SELECT * FROM t").await;
    assert_mentions(&msg, &["months.nc", "months"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_zarr_metadata_names_the_store() {
    let msg = first_error("ZARR", "${FIXTURES}/bad/broken.zarr", "SELECT * FROM t").await;
    assert_mentions(&msg, &["broken.zarr"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_zarr_chunk_names_the_store_and_variable() {
    let msg = first_error("ZARR", "${FIXTURES}/bad/badchunk.zarr", "SELECT sum(val) FROM t").await;
    assert_mentions(&msg, &["badchunk.zarr", "val"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_file_given_as_zarr_is_an_error() {
    let msg = first_error("ZARR", "${FIXTURES}/basic/basic_nc4.nc", "SELECT * FROM t").await;
    assert_mentions(&msg, &["basic_nc4.nc"]);
}
