//! The plain decode loop the benchmark's Q6 is measured against (tests/bench/run.sh):
//! open every NetCDF file of a directory with the netcdf crate (libnetcdf + HDF5
//! inflate, one thread: libnetcdf is globally locked), read one int16 variable whole,
//! and add up the values that are not the fill value.
//!
//!   cargo run --release -p oceanql-connectors --example raw_decode -- DIR [VARIABLE] [FILL]
//!
//! Prints one line of JSON: files, values, valid, sum of the valid raw values, bytes
//! decoded (2 per value), seconds and MB/s (decoded bytes / seconds / 1e6).
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: raw_decode DIR [VARIABLE] [FILL]")?,
    );
    let var = args.next().unwrap_or_else(|| "sst".into());
    let fill: i16 = args.next().map_or(Ok(-32768), |f| f.parse())?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nc"))
        .collect();
    files.sort();
    let start = Instant::now();
    let (mut values, mut valid, mut sum) = (0u64, 0u64, 0i64);
    for path in &files {
        let file = netcdf::open(path)?;
        let v = file
            .variable(&var)
            .ok_or_else(|| format!("{}: no variable {var}", path.display()))?;
        let data: Vec<i16> = v.get_values(..)?;
        values += data.len() as u64;
        for &x in &data {
            if x != fill {
                valid += 1;
                sum += x as i64;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = 2 * values;
    println!(
        "{{\"files\": {}, \"values\": {values}, \"valid\": {valid}, \"sum\": {sum}, \"bytes\": {bytes}, \"seconds\": {secs:.4}, \"mb_per_s\": {:.1}}}",
        files.len(),
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
