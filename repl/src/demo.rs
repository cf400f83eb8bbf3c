//! `oceanql demo`: writes the deterministic demo data set.
//!
//! Everything is synthetic but plausible, and computed from fixed seeds, so two runs
//! write the same values (and, with the same library versions, the same bytes):
//!
//! * `DIR/sst_nc/sst_YYYYMMDD.nc`: a global daily sea surface temperature field for
//!   2023 (365 days), one CF-1.8 NetCDF-4 file per day laid out like a real L4
//!   product (int16 packed, `scale_factor` 0.01, `_FillValue` on land, lon 0..360,
//!   chunked and deflated);
//! * `DIR/sst.zarr`: the same field as one Zarr v3 store (lon in -180..180), with
//!   the CF attributes xarray writes;
//! * `DIR/drifters.parquet`: an in situ table of surface drifters (6-hourly fixes)
//!   measuring the same field plus N(0, 0.2 °C) noise;
//! * `DIR/l2p/*.nc`: GHRSST L2P-like swath granules of skin SST placed on drifter fixes
//!   (clouds, quality levels, solar zenith angle, a few 3 K outlier seeds; see
//!   [`L2P_GRANULES`]);
//! * `DIR/catalog.sql`: the `CREATE EXTERNAL TABLE` statements for the tables;
//! * `--benchmark` only: `DIR/sst_long.parquet`, the daily grid as one long table for
//!   the benchmark's peers (table `sst_long`, see [`long_table`]).
//!
//! The standard data set (not `--benchmark`, which writes only the above, unchanged)
//! adds:
//!
//! * `DIR/sst_monthly/sst_monthly_YYYY.nc`, 1991-2023: monthly mean SST on the same 1°
//!   grid in the same NetCDF layout as `sst_nc/` (int16, scale 0.01, `_FillValue`
//!   -32768 on the same land, lon 0..360, chunks 1 x 45 x 90), 12 time steps per file,
//!   `time` = the first day of the month 00:00 UTC (days since 1981-01-01),
//!   `cell_methods` "time: mean"; table `sst_monthly` (see *Monthly field*);
//! * a hurricane in late August 2023 (see *The hurricane*): its cold wake is in the
//!   daily field above (and so in the drifters and L2P values that sample it), and
//!   `DIR/wind.zarr`, one Zarr v3 store on the grid and time axis of `sst.zarr` (days
//!   0..364 at 00:00 UTC, lon -180..180, one chunk per day and variable, no land mask):
//!   `wind_speed` (10 m wind speed, m s-1, int16, scale 0.01) and `msl` (mean sea level
//!   pressure, hPa, int16, scale 0.1, add_offset 1000), `_FillValue` -32768 (unused);
//!   table `wind`;
//! * `DIR/l2p_b/*.nc`: 30 L2P-like granules of a second sensor, DEMO_B, 25 of which cross
//!   an `l2p` granule within 3 hours, 0.15 K warmer than `l2p` (see [`l2p_b`]); table `l2p_b`.
//!
//! The daily field (°C) at latitude φ, longitude λ and time t (days since 2023-01-01) is
//!
//! ```text
//! sst = max(-1.8, zonal(φ) + seasonal(φ, t) + cold_tongue(φ, λ) + blob(φ, λ, t)
//!                 + Σ eddy_k(φ, λ, t) + wake(φ, λ, t) + noise(cell, day))
//! zonal(φ)       = -1.8 + 31 exp(-|x|^2.7), x = (φ-5)/46 north of 5°N, (5-φ)/48 south
//! seasonal(φ, t) = ±A sin²(2φ) cos(2π (t-225)/365), A = 4 (north, +) or 2.5 (south, -)
//! cold_tongue    = -2.5 exp(-½((φ+1)/4)² - ½((λ+110)/30)²)      (eastern equatorial Pacific)
//! blob           = a(t) exp(-½((φ-52.5)/6)² - ½((λ+135)/12)²)   ("the Blob", NE Pacific)
//!                  a(t) grows smoothly from 0 to 2.5 °C on day 240 (late August),
//!                  then eases to 2.0 °C by the end of the year
//! eddy_k         = a_k exp(-½ r²) for r < 4, r = distance to the eddy centre in radii;
//!                  16 eddies (±1..2 °C, radius 1.5..3°) drifting west 0.04..0.12 °/day
//! wake           = the hurricane's cold wake (standard data set only; 0 before 2023-08-27)
//! noise          = 0.2 u(SEED, i, j, day): uniform in [-0.1, 0.1] °C, a hash of (cell, day)
//! ```
//!
//! Longitude differences (λ+110, λ+135, ...) are wrapped to [-180, 180) everywhere.
//!
//! Noise hashes: `u(seed, i, j, step) = (h >> 11) / 2^53 - 0.5` (so in [-0.5, 0.5)) with
//! `h = splitmix64(seed ^ (step << 42) ^ (i << 21) ^ j)` on wrapping u64 (splitmix64:
//! `z += 0x9E3779B97F4A7C15; z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) *
//! 0x94D049BB133111EB; z ^ z >> 31`), `i` the row from the south (0..179 at 1°), `j` the
//! column from -180° (0..359), `SEED = 0x0CEA4A1120230001`.
//!
//! Land (and lakes, ice shelves) is missing, from a real 1° land/sea mask embedded in
//! the binary (see [`LANDMASK_1DEG`]); finer grids sample it by nearest neighbour.
//!
//! *Monthly field*, month `m` = 0 (1991-01) .. 395 (2023-12), year `y`, month of the
//! year `mo`, on ocean cells:
//!
//! ```text
//! sst_monthly = max(-1.8, zonal(φ) + ±A sin²(2φ) c(y, mo) + cold_tongue(φ, λ) + trend(m)
//!                         + enso(m) p(φ, λ) + blob14(m) shape(φ, λ) + noise)
//! c(y, mo)    = the mean of cos(2π (d-225)/365) over the days d of the month (d = day of
//!               the year from 0, in that year's calendar): the month's mean of the daily
//!               seasonal term (not its mid-month value); the other daily terms are constant
//! trend(m)    = 0.015 (m - 389.5) / 12          (0.015 °C/yr, 0 on average over 2023)
//! enso(m)     = Σ_k A_k exp(-½ ((m - m_k)/w_k)²) over monthly::ENSO_EVENTS (year, month
//!               of the peak m_k, A_k °C, w_k months): El Niño 1991-92 (+1.7), 1994-95
//!               (+1.0), 1997-98 (+2.4), 2002-03 (+1.3), 2009-10 (+1.6), 2015-16 (+2.6),
//!               2018-19 (+0.9), 2023 (+1.8 in December, about +0.75 by June); La Niña
//!               1995-96 (-0.9), 1998-2001 (-1.5, -1.5, -0.9), 2007-08 (-1.6), 2010-12
//!               (-1.6, -1.0), 2020-23 (-1.2, -1.0, -1.0)
//! p(φ, λ)     = exp(-(φ/12)⁴) h(δ), δ = λ + 145 wrapped to [-180, 180): h = 1 for |δ| ≤ 25
//!               (170W-120W), exp(-½((δ+25)/20)²) west of that, exp(-½((δ-25)/30)²) east
//! blob14(m)   = 2.5 s((m-273)/8) from 2013-10 (m = 273) to 2014-06 (281), 2.5 until
//!               2015-09 (296), 2.5 s((305-m)/9) down to 0 at 2016-06 (305), 0 otherwise;
//!               s(x) = x²(3-2x); shape = the daily Blob's exp(-½((φ-52.5)/6)² - ½((λ+135)/12)²)
//! noise       = 0.2 u(SEED ^ 0xA3 << 56, i, j, m)
//! ```
//!
//! The daily model's eddies and its 2023 Blob are not in the monthly field.
//!
//! *The hurricane*: [`storm::TRACK`] lists its 19 6-hourly points from 2023-08-27T00Z
//! (t = 238) to 2023-08-31T12Z (t = 242.5): lat, lon, maximum wind V (m/s, peak 57 on
//! 08-30 00Z at 28.4N 84.0W) and central pressure P (hPa, lowest 942). Between points the
//! storm is interpolated linearly (position, V, P); it does not exist outside that time.
//!
//! ```text
//! wake(φ, λ, t) = A exp(-½ (d/1.5)²) exp(-(t - t_p)/15)  for t ≥ t_p and d < 6, else 0
//!   d, t_p      = the distance (°) from (φ, λ) to the closest point of the track (its
//!                 straight segments; the first segment wins a tie), longitude
//!                 differences times cos φ, and the time the storm was at that point
//!   A           = -3 °C V(t_p) / 57
//! wind_speed    = W(φ, t) + v(r) + 1.0 u(SEED ^ 0xA1 << 56, i, j, day)
//!   W           = 3.5 + 4 g(|φ|; 15, 7) + K (1 + 0.3 w) g(|φ|; 50, 10), K = 6 north, 8 south
//!   v(r)        = V (r/0.75) exp(1 - r/0.75) for r < 10 (peak V at 0.75°), else 0
//! msl           = M(φ, t) + (P - M) g(r; 0, 1.5) [r < 6, else 0] + 0.6 u(SEED ^ 0xA2 << 56, i, j, day)
//!   M           = 1012 - 4 g(φ; 5, 6) + 7 g(|φ|; 30, 8) - L (1 + 0.3 w) g(|φ|; 60, 8),
//!                 L = 10 north, 22 south
//!   w           = cos(2π (t - 15)/365) north of the equator (φ ≥ 0), minus that south
//!   g(x; μ, σ)  = exp(-½ ((x - μ)/σ)²)
//!   r           = distance (°) to the storm centre, longitude differences times cos of
//!                 the centre's latitude; v and the P term only while the storm exists
//! ```
//!
//! The wind and pressure are taken at 00:00 UTC of each day (the storm at t = day), and
//! φ ≥ 0 counts as north everywhere above.

use std::f64::consts::PI;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use zarrs::array::codec::ZstdCodec;
use zarrs::array::{Array, ArrayBuilder, ArrayMetadataOptions, data_type};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::GroupBuilder;

mod l2p_b;
mod long_table;
mod monthly;
mod storm;

/// What `oceanql demo` writes, and where.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Output directory (created if missing); `oceanql demo` defaults to `./oceanql-demo`.
    pub dir: PathBuf,
    /// `false`: 1° grid, 300 drifters (~438k fixes). `true`: 0.25° grid and 1,000,000
    /// drifter records, for benchmarks.
    pub benchmark: bool,
}

/// Queries a scientist would run first on the demo catalog: (title, SQL).
///
/// The match-up query snaps each fix to the 1° cell centre with `grid_snap`; on
/// the 0.25° benchmark grid use `grid_snap(d.lat, 0.25)`.
pub const EXAMPLE_QUERIES: &[(&str, &str)] = &[
    (
        "The Blob: monthly mean SST in the North-East Pacific (45-60N, 150-120W), and its anomaly against the mean of the same latitude and day",
        "WITH band AS (
  SELECT time, lon, sst,
         sst - avg(sst) OVER (PARTITION BY time, lat) AS anomaly
  FROM sst
  WHERE lat BETWEEN 45 AND 60
)
SELECT date_trunc('month', time) AS month,
       round(avg(sst), 2) AS mean_sst,
       round(avg(anomaly), 2) AS anomaly
FROM band
WHERE lon BETWEEN -150 AND -120
GROUP BY 1
ORDER BY 1",
    ),
    (
        "One day, one box: the heart of the Blob (51-54N, 138-132W) on 2023-08-29, its warmest day",
        "SELECT lat, lon, round(sst, 2) AS sst
FROM sst
WHERE time = '2023-08-29T00:00:00Z'
  AND lat BETWEEN 51 AND 54
  AND lon BETWEEN -138 AND -132
ORDER BY lat DESC, lon",
    ),
    (
        "Drifters vs. the grid: monthly in situ minus gridded SST, matching each drifter fix to the 1° cell of the same day (grid_snap gives the cell centre)",
        "SELECT date_trunc('month', d.time) AS month,
       count(*) AS matchups,
       count(DISTINCT d.platform_id) AS drifters,
       round(avg(d.sst - s.sst), 3) AS mean_diff,
       round(stddev(d.sst - s.sst), 3) AS std_diff
FROM drifters d
JOIN sst s
  ON s.time = date_trunc('day', d.time)
 AND s.lat = grid_snap(d.lat, 1)
 AND s.lon = grid_snap(d.lon, 1)
WHERE s.sst IS NOT NULL
GROUP BY 1
ORDER BY 1",
    ),
    (
        "ENSO from the monthly SST: the Niño 3.4 index (5S-5N, 170W-120W, anomaly against the 1991-2020 mean of each calendar month), warmest and coldest month of each year",
        "WITH box AS (
  SELECT time, avg(sst) AS sst
  FROM sst_monthly
  WHERE lat BETWEEN -5 AND 5 AND lon BETWEEN -170 AND -120
  GROUP BY time
), normal AS (
  SELECT date_part('month', time) AS month, avg(sst) AS sst
  FROM box
  WHERE time < '2021-01-01T00:00:00Z'
  GROUP BY 1
)
SELECT CAST(date_part('year', b.time) AS INT) AS year,
       round(max(b.sst - n.sst), 2) AS warmest,
       round(min(b.sst - n.sst), 2) AS coldest
FROM box b
JOIN normal n ON date_part('month', b.time) = n.month
GROUP BY 1
ORDER BY 1",
    ),
];

/// What each entry of the demo directory holds, for `oceanql demo`'s summary.
pub const CONTENTS: &[(&str, &str)] = &[
    (
        "catalog.sql",
        "the CREATE EXTERNAL TABLE statements of these tables",
    ),
    (
        "drifters.parquet",
        "drifters: in situ SST of surface drifters, 6-hourly fixes, 2023",
    ),
    (
        "l2p/",
        "l2p: L2P-like swath granules (skin SST, quality level, solar zenith angle)",
    ),
    (
        "l2p_b/",
        "l2p_b: swaths of a second sensor crossing l2p within 3 h, 0.15 K warmer",
    ),
    ("sst.zarr/", "sst_zarr: the daily SST as one Zarr v3 store"),
    (
        "sst_long.parquet",
        "sst_long: the daily SST as one long Parquet table (--benchmark only)",
    ),
    (
        "sst_monthly/",
        "sst_monthly: monthly mean SST 1991-2023 (trend, ENSO, the 2014-15 Blob)",
    ),
    ("sst_nc/", "sst: daily SST 2023, one NetCDF file per day"),
    (
        "wind.zarr/",
        "wind: daily 10 m wind speed and sea level pressure 2023, a hurricane in August",
    ),
];

/// Writes the demo data set into `opts.dir` and returns the path of `DIR/catalog.sql`.
pub fn write_demo(opts: &DemoOptions) -> Result<PathBuf> {
    let spec = if opts.benchmark {
        Spec::benchmark()
    } else {
        Spec::standard()
    };
    write_with(&opts.dir, &spec)
}

// ---------------------------------------------------------------------------------
// Size of what is written
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Spec {
    /// Grid cells per degree: 1 (1°) or 4 (0.25°).
    cells_per_degree: usize,
    /// Number of days from 2023-01-01.
    days: usize,
    /// Number of drifters.
    drifters: usize,
    /// Cap on the total number of drifter records (the last drifter stops early).
    max_records: usize,
    /// Chunk shape (lat, lon) of `sst` in NetCDF and Zarr (time chunk is 1).
    chunk: (usize, usize),
    /// Number of L2P swath granules in `l2p/`.
    l2p_granules: usize,
    /// Years (first, last) of `sst_monthly/`, or none.
    monthly_years: Option<(i32, i32)>,
    /// The hurricane: its cold wake in the SST field, and `wind.zarr`.
    storm: bool,
    /// Number of second-sensor swath granules in `l2p_b/`.
    l2p_b_granules: usize,
    /// `sst_long.parquet`: the grid as a long table (see [`long_table`]).
    long_table: bool,
}

impl Spec {
    fn standard() -> Self {
        Spec {
            cells_per_degree: 1,
            days: 365,
            drifters: 300,
            max_records: usize::MAX,
            chunk: (45, 90),
            l2p_granules: L2P_GRANULES,
            monthly_years: Some((monthly::FIRST_YEAR, monthly::LAST_YEAR)),
            storm: true,
            l2p_b_granules: l2p_b::GRANULES,
            long_table: false,
        }
    }

    /// The benchmark writes the same products and values as before the monthly,
    /// wind and second-sensor products were added.
    fn benchmark() -> Self {
        let records: usize = 1_000_000;
        Spec {
            cells_per_degree: 4,
            days: 365,
            drifters: records.div_ceil(FIXES_PER_DAY * 365),
            max_records: records,
            chunk: (180, 360),
            l2p_granules: L2P_GRANULES,
            monthly_years: None,
            storm: false,
            l2p_b_granules: 0,
            long_table: true,
        }
    }

    fn nx(&self) -> usize {
        360 * self.cells_per_degree
    }

    fn ny(&self) -> usize {
        180 * self.cells_per_degree
    }

    fn res(&self) -> f64 {
        1.0 / self.cells_per_degree as f64
    }

    /// Latitude of the centre of row `i` (row 0 southernmost).
    fn lat(&self, i: usize) -> f64 {
        -90.0 + (i as f64 + 0.5) * self.res()
    }

    /// Longitude in [-180, 180) of the centre of column `j` (column 0 at -180).
    fn lon(&self, j: usize) -> f64 {
        -180.0 + (j as f64 + 0.5) * self.res()
    }

    fn fixes_per_drifter(&self) -> usize {
        FIXES_PER_DAY * self.days
    }
}

fn write_with(dir: &Path, spec: &Spec) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| fail("creating directory", dir, e))?;
    let dir = fs::canonicalize(dir).map_err(|e| fail("resolving directory", dir, e))?;
    let model = Model::new(spec.storm);
    write_grids(&dir, spec, &model)?;
    // The monthly files are written (mostly libnetcdf, on one core) while the drifters
    // and swaths are computed.
    std::thread::scope(|s| {
        let monthly = s.spawn(|| match spec.monthly_years {
            Some(years) => monthly::write_monthly(&dir, spec, years),
            None => Ok(()),
        });
        let swaths =
            write_drifters(&dir.join("drifters.parquet"), spec, &model).and_then(|tracks| {
                let swaths = write_l2p(&dir, spec, &model, &tracks)?;
                l2p_b::write_l2p_b(&dir, spec, &model, &tracks, &swaths)
            });
        let monthly = monthly.join().unwrap_or_else(|_| {
            Err(DataFusionError::Internal(
                "oceanql demo: the monthly SST thread panicked".into(),
            ))
        });
        swaths.and(monthly)
    })?;
    write_catalog(&dir, spec)
}

fn fail(what: &str, path: &Path, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("oceanql demo: {what} {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------
// Land mask
// ---------------------------------------------------------------------------------

/// 1° land/sea mask, 180 x 360 bits = 8100 bytes, 1 = not ocean (land, lake, small
/// island or ice shelf), 0 = ocean.
///
/// Layout: bit `k = row * 360 + col` is bit `k % 8` (least significant first) of byte
/// `k / 8`; row 0 is the southernmost row (cell centre -89.5°N), col 0 is the cell
/// centred at -179.5°E (so col = floor(lon + 180)).
///
/// Provenance: converted once from `landsea.nc` of NCAR's GeoCAT example data
/// (variable LSMASK, int8, 0 ocean, 1 land, 2 lake, 3 small island, 4 ice shelf;
/// "1x1 Land-Sea Mask ... Based on Rand's Global Elevation and Depth Data", Adam
/// Phillips, NCAR; Apache-2.0) with numpy: lon rolled from 0.5..359.5 to
/// -179.5..179.5, `LSMASK != 0`, `np.packbits(..., bitorder="little")`.
static LANDMASK_1DEG: &[u8; 8100] = include_bytes!("../assets/landmask_1deg.bin");

/// Whether the 1° cell containing (lat, lon) is not ocean.
fn is_land(lat: f64, lon: f64) -> bool {
    let row = ((lat + 90.0).floor() as i64).clamp(0, 179) as usize;
    let col = ((wrap_lon(lon) + 180.0).floor() as i64).clamp(0, 359) as usize;
    let k = row * 360 + col;
    (LANDMASK_1DEG[k / 8] >> (k % 8)) & 1 == 1
}

/// Longitude wrapped into [-180, 180).
fn wrap_lon(lon: f64) -> f64 {
    let w = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if w >= 180.0 { w - 360.0 } else { w }
}

// ---------------------------------------------------------------------------------
// The SST model
// ---------------------------------------------------------------------------------

const SEED: u64 = 0x0CEA_4A11_2023_0001;
/// Seawater freezing point, the floor of the field (°C).
const FREEZING: f64 = -1.8;
const FILL: i16 = -32768;
const SCALE: f64 = 0.01;
const N_EDDIES: usize = 16;
/// Day of the year (from 0) of the northern summer maximum.
const NH_PEAK_DAY: f64 = 225.0;
const BLOB_LAT: f64 = 52.5;
const BLOB_LON: f64 = -135.0;
const BLOB_PEAK_DAY: f64 = 240.0;
const FIXES_PER_DAY: usize = 4;
/// Microseconds since the Unix epoch of 2023-01-01T00:00:00Z.
const EPOCH_2023_US: i64 = 1_672_531_200_000_000;
/// Days from 1981-01-01 to 2023-01-01 (NetCDF time units).
const DAYS_1981_TO_2023: f64 = 15340.0;

/// Zonal mean climatology (°C): warmest at 5°N, colder in the south.
fn zonal(lat: f64) -> f64 {
    let x = if lat >= 5.0 {
        (lat - 5.0) / 46.0
    } else {
        (5.0 - lat) / 48.0
    };
    FREEZING + 31.0 * (-x.powf(2.7)).exp()
}

/// Seasonal anomaly: largest at mid-latitudes, opposite in the two hemispheres.
fn seasonal(lat: f64, t: f64) -> f64 {
    let phase = (2.0 * PI * (t - NH_PEAK_DAY) / 365.0).cos();
    seasonal_amplitude(lat) * phase
}

/// ±A sin²(2φ): the seasonal anomaly at the northern summer peak.
fn seasonal_amplitude(lat: f64) -> f64 {
    let s = (2.0 * lat.to_radians()).sin();
    if lat >= 0.0 {
        4.0 * s * s
    } else {
        -2.5 * s * s
    }
}

fn cold_tongue(lat: f64, lon: f64) -> f64 {
    let y = (lat + 1.0) / 4.0;
    let x = wrap_lon(lon + 110.0) / 30.0;
    -2.5 * (-0.5 * y * y - 0.5 * x * x).exp()
}

/// Amplitude of the Blob (°C) on day `t`.
fn blob_amplitude(t: f64) -> f64 {
    if t <= BLOB_PEAK_DAY {
        let x = (t / BLOB_PEAK_DAY).clamp(0.0, 1.0);
        2.5 * x * x * (3.0 - 2.0 * x)
    } else {
        2.5 - 0.5 * ((t - BLOB_PEAK_DAY) / (365.0 - BLOB_PEAK_DAY)).min(1.0)
    }
}

/// Spatial pattern of the Blob (peak 1 at 52.5N 135W).
fn blob_shape(lat: f64, lon: f64) -> f64 {
    let y = (lat - BLOB_LAT) / 6.0;
    let x = wrap_lon(lon - BLOB_LON) / 12.0;
    (-0.5 * y * y - 0.5 * x * x).exp()
}

/// Everything but the eddies and the noise.
fn base(lat: f64, lon: f64, t: f64) -> f64 {
    zonal(lat) + seasonal(lat, t) + cold_tongue(lat, lon) + blob_amplitude(t) * blob_shape(lat, lon)
}

/// A mesoscale eddy: a Gaussian bump drifting (mostly) west.
#[derive(Debug, Clone, Copy)]
struct Eddy {
    lat0: f64,
    lon0: f64,
    /// °C, positive for warm-core, negative for cold-core eddies.
    amp: f64,
    /// e-folding radius, degrees of latitude.
    radius: f64,
    /// drift, degrees of longitude / latitude per day.
    u: f64,
    v: f64,
}

/// An eddy at one time.
#[derive(Debug, Clone, Copy)]
struct EddyAt {
    lat: f64,
    lon: f64,
    amp: f64,
    radius: f64,
    coslat: f64,
}

impl Eddy {
    fn at(&self, t: f64) -> EddyAt {
        let lat = self.lat0 + self.v * t;
        EddyAt {
            lat,
            lon: wrap_lon(self.lon0 + self.u * t),
            amp: self.amp,
            radius: self.radius,
            coslat: lat.to_radians().cos(),
        }
    }
}

impl EddyAt {
    /// Beyond 4 radii an eddy contributes exactly 0.
    const CUTOFF: f64 = 4.0;

    fn term(&self, lat: f64, lon: f64) -> f64 {
        let dy = (lat - self.lat) / self.radius;
        let dx = wrap_lon(lon - self.lon) * self.coslat / self.radius;
        let r2 = dx * dx + dy * dy;
        if r2 < Self::CUTOFF * Self::CUTOFF {
            self.amp * (-0.5 * r2).exp()
        } else {
            0.0
        }
    }
}

struct Model {
    eddies: Vec<Eddy>,
    /// Whether the hurricane's cold wake is in the field.
    storm: bool,
}

impl Model {
    fn new(storm: bool) -> Self {
        let mut rng = Rng::new(SEED ^ 0xEDD1E5);
        let mut eddies = Vec::with_capacity(N_EDDIES);
        while eddies.len() < N_EDDIES {
            let k = eddies.len();
            let hemisphere = if k % 2 == 0 { 1.0 } else { -1.0 };
            let lat0 = hemisphere * rng.uniform(20.0, 45.0);
            let lon0 = rng.uniform(-180.0, 180.0);
            let sign = if (k / 2) % 2 == 0 { 1.0 } else { -1.0 };
            let amp = sign * rng.uniform(1.0, 2.0);
            let radius = rng.uniform(1.5, 3.0);
            let u = -rng.uniform(0.04, 0.12);
            let v = rng.uniform(-0.02, 0.02);
            if !is_land(lat0, lon0) {
                eddies.push(Eddy {
                    lat0,
                    lon0,
                    amp,
                    radius,
                    u,
                    v,
                });
            }
        }
        Model { eddies, storm }
    }

    fn eddies_at(&self, t: f64) -> Vec<EddyAt> {
        self.eddies.iter().map(|e| e.at(t)).collect()
    }

    /// The smooth field (no noise, no freezing floor) at a point.
    fn smooth(&self, lat: f64, lon: f64, t: f64, eddies: &[EddyAt]) -> f64 {
        let mut v = base(lat, lon, t);
        for e in eddies {
            v += e.term(lat, lon);
        }
        if self.storm {
            // Exactly 0 before the storm and away from it: other values are unchanged.
            v += storm::wake(lat, lon, t);
        }
        v
    }

    /// The gridded value (°C) of ocean cell (i, j) on `day`, evaluated point by point
    /// (the writer computes whole days in another way; tests compare the two).
    #[cfg(test)]
    fn cell_value(&self, spec: &Spec, i: usize, j: usize, day: usize) -> f64 {
        let t = day as f64;
        let v =
            self.smooth(spec.lat(i), spec.lon(j), t, &self.eddies_at(t)) + cell_noise(i, j, day);
        v.max(FREEZING)
    }

    /// Packed int16 values of one day, row-major (lat, lon), lon from -180.
    /// Adds up exactly the same terms in the same order as [`Model::smooth`].
    fn day_raw(&self, spec: &Spec, grid: &GridStatic, day: usize) -> Vec<i16> {
        let (nx, ny) = (spec.nx(), spec.ny());
        let t = day as f64;
        let blob_amp = blob_amplitude(t);
        let mut acc = vec![0.0f64; nx * ny];
        for i in 0..ny {
            let lat = spec.lat(i);
            let row = zonal(lat) + seasonal(lat, t);
            let cells = i * nx..(i + 1) * nx;
            for (k, a) in cells.clone().zip(&mut acc[cells]) {
                if grid.ocean[k] {
                    *a = row + grid.tongue[k] + blob_amp * grid.blob[k];
                }
            }
        }
        // Each eddy only touches the cells within its cut-off radius.
        let res = spec.res();
        let mut columns = Vec::with_capacity(nx);
        for e in self.eddies_at(t) {
            let reach = EddyAt::CUTOFF * e.radius;
            let i0 = (((e.lat - reach + 90.0) / res).floor() - 1.0).max(0.0) as usize;
            let i1 = ((((e.lat + reach + 90.0) / res).ceil() + 1.0).max(0.0) as usize).min(ny);
            let half = reach / e.coslat.max(1e-6) + 2.0 * res;
            columns.clear();
            if half >= 180.0 {
                columns.extend(0..nx);
            } else {
                let j0 = (((wrap_lon(e.lon - half) + 180.0) / res).floor() as usize).min(nx - 1);
                let n = ((2.0 * half) / res).ceil() as usize + 1;
                columns.extend((0..n.min(nx)).map(|m| (j0 + m) % nx));
            }
            for i in i0..i1 {
                let lat = spec.lat(i);
                for &j in &columns {
                    let k = i * nx + j;
                    if grid.ocean[k] {
                        acc[k] += e.term(lat, spec.lon(j));
                    }
                }
            }
        }
        if self.storm {
            for &(k, amp, t_pass) in &grid.wake {
                acc[k] += storm::wake_term(amp, t_pass, t);
            }
        }
        let mut out = vec![FILL; nx * ny];
        for i in 0..ny {
            for j in 0..nx {
                let k = i * nx + j;
                if grid.ocean[k] {
                    out[k] = pack((acc[k] + cell_noise(i, j, day)).max(FREEZING));
                }
            }
        }
        out
    }
}

/// The time-independent parts of the grid, computed once.
struct GridStatic {
    ocean: Vec<bool>,
    tongue: Vec<f64>,
    blob: Vec<f64>,
    /// Ocean cells the hurricane's wake reaches: (cell, amplitude, time of passage).
    wake: Vec<(usize, f64, f64)>,
}

impl GridStatic {
    fn new(spec: &Spec) -> Self {
        let nx = spec.nx();
        let cells = spec.ny() * nx;
        let (mut ocean, mut tongue, mut blob) = (
            Vec::with_capacity(cells),
            Vec::with_capacity(cells),
            Vec::with_capacity(cells),
        );
        for k in 0..cells {
            let (lat, lon) = (spec.lat(k / nx), spec.lon(k % nx));
            ocean.push(!is_land(lat, lon));
            tongue.push(cold_tongue(lat, lon));
            blob.push(blob_shape(lat, lon));
        }
        let wake = (0..cells)
            .filter(|&k| ocean[k])
            .filter_map(|k| {
                let (amp, t_pass) = storm::wake_passage(spec.lat(k / nx), spec.lon(k % nx))?;
                Some((k, amp, t_pass))
            })
            .collect();
        GridStatic {
            ocean,
            tongue,
            blob,
            wake,
        }
    }
}

fn pack(celsius: f64) -> i16 {
    (celsius / SCALE).round().clamp(-32767.0, 32767.0) as i16
}

/// Deterministic small noise in [-0.1, 0.1] °C for grid cell (i, j) on `day`.
fn cell_noise(i: usize, j: usize, day: usize) -> f64 {
    (unit(cell_hash(SEED, i, j, day)) - 0.5) * 0.2
}

/// 64 random bits for grid cell (i, j) at time step `step` (day or month), from `seed`
/// (seeds of different fields differ in bits 56..64, above those of the step).
fn cell_hash(seed: u64, i: usize, j: usize, step: usize) -> u64 {
    splitmix64(seed ^ ((step as u64) << 42) ^ ((i as u64) << 21) ^ j as u64)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from 64 random bits.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A small deterministic PRNG (splitmix64 sequence).
struct Rng {
    state: u64,
}

impl Rng {
    fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.state)
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * unit(self.next_u64())
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - unit(self.next_u64()); // (0, 1]
        let u2 = unit(self.next_u64());
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

// ---------------------------------------------------------------------------------
// Gridded SST: NetCDF (one file per day) and Zarr
// ---------------------------------------------------------------------------------

fn day_stamp(day: usize) -> String {
    let date = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or_default()
        + chrono::Days::new(day as u64);
    date.format("%Y%m%d").to_string()
}

fn write_grids(dir: &Path, spec: &Spec, model: &Model) -> Result<()> {
    let nc_dir = dir.join("sst_nc");
    fs::create_dir_all(&nc_dir).map_err(|e| fail("creating directory", &nc_dir, e))?;
    let zarr_path = dir.join("sst.zarr");
    let sst_vars = [ZarrVar {
        name: "sst",
        long_name: "daily sea surface foundation temperature",
        standard_name: "sea_surface_foundation_temperature",
        units: "degree_Celsius",
        scale: SCALE,
        offset: 0.0,
        valid: (-300, 4500),
        fill: FILL,
    }];
    let sst_title = "OceanQL synthetic demo: daily global sea surface temperature (L4-like)";
    let zarr = create_zarr(&zarr_path, spec, spec.chunk, sst_title, &sst_vars)?;
    let wind_path = dir.join("wind.zarr");
    let wind = if spec.storm {
        storm::create_wind_zarr(&wind_path, spec)?
    } else {
        vec![]
    };
    let grid = GridStatic::new(spec);
    let compute = |day: usize| {
        let raw = model.day_raw(spec, &grid, day);
        store_zarr_day(&zarr[0], &zarr_path, day, &raw)?;
        if !wind.is_empty() {
            storm::store_wind_day(&wind, &wind_path, spec, day)?;
        }
        Ok(raw)
    };
    let mut buf = Vec::new();
    let mut long = match spec.long_table {
        true => Some(long_table::LongWriter::create(&dir.join("sst_long.parquet"))?),
        false => None,
    };
    pipeline(spec.days, &compute, |day, raw: Vec<i16>| {
        if let Some(long) = long.as_mut() {
            long.write_day(spec, day, &raw)?;
        }
        let path = nc_dir.join(format!("sst_{}.nc", day_stamp(day)));
        write_netcdf_day(&path, spec, day, &raw, &mut buf)
    })?;
    long.map_or(Ok(()), long_table::LongWriter::finish)
}

/// Computes items `0..n` on worker threads and hands each result to `write` on this
/// thread, in the order they come: libnetcdf is globally locked, so files are written
/// here, one at a time, while the workers compute the next items.
fn pipeline<T: Send>(
    n: usize,
    compute: &(dyn Fn(usize) -> Result<T> + Sync),
    mut write: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, n.max(1));
    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let (next, abort) = (&next, &abort);
    let (tx, rx) = mpsc::sync_channel::<(usize, T)>(2 * workers);

    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let tx = tx.clone();
                s.spawn(move || -> Result<()> {
                    while !abort.load(Ordering::Relaxed) {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= n {
                            break;
                        }
                        let item = match compute(k) {
                            Ok(item) => item,
                            Err(e) => {
                                abort.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        };
                        if tx.send((k, item)).is_err() {
                            break;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        drop(tx);

        let mut result = Ok(());
        for (k, item) in rx {
            if let Err(e) = write(k, item) {
                abort.store(true, Ordering::Relaxed);
                result = Err(e);
                break;
            }
        }
        for h in handles {
            let r = h.join().unwrap_or_else(|_| {
                Err(DataFusionError::Internal(
                    "oceanql demo: a worker thread panicked".into(),
                ))
            });
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

fn write_netcdf_day(
    path: &Path,
    spec: &Spec,
    day: usize,
    raw: &[i16],
    buf: &mut Vec<i16>,
) -> Result<()> {
    let date = day_stamp(day);
    let iso = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
    let text = NcGrid {
        title: "OceanQL synthetic demo: daily global sea surface temperature (L4-like)",
        comment: "Synthetic data, NOT real observations: latitude profile, seasonal cycle, drifting eddies, \
                  a growing North-East Pacific warm anomaly and small noise. Land from the NCAR 1x1 land/sea mask.",
        time_long_name: "reference time of sst field",
        sst_long_name: "daily sea surface foundation temperature",
        cell_methods: None,
        coverage: (format!("{iso}T00:00:00Z"), format!("{iso}T23:59:59Z")),
        times: vec![DAYS_1981_TO_2023 + day as f64],
    };
    write_grid_netcdf(path, spec, &text, raw, buf)
}

/// What differs between the daily and the monthly SST files.
struct NcGrid<'a> {
    title: &'a str,
    comment: &'a str,
    time_long_name: &'a str,
    sst_long_name: &'a str,
    cell_methods: Option<&'a str>,
    /// time_coverage_start and _end.
    coverage: (String, String),
    /// Days since 1981-01-01, one per time step of `raw`.
    times: Vec<f64>,
}

/// Writes one SST NetCDF file of `text.times.len()` steps; `raw` is (time, lat, lon)
/// row-major with lon from -180.
fn write_grid_netcdf(
    path: &Path,
    spec: &Spec,
    text: &NcGrid,
    raw: &[i16],
    buf: &mut Vec<i16>,
) -> Result<()> {
    let (nx, ny) = (spec.nx(), spec.ny());
    let e = |err: netcdf::Error| fail("writing NetCDF", path, err);
    // The file stores lon 0..360 like most L4 products: column k is lon (k + 0.5) * res,
    // i.e. internal column (k + nx/2) mod nx.
    buf.clear();
    for row in raw.chunks_exact(nx) {
        buf.extend_from_slice(&row[nx / 2..]);
        buf.extend_from_slice(&row[..nx / 2]);
    }
    let lats: Vec<f32> = (0..ny).map(|i| spec.lat(i) as f32).collect();
    let lons: Vec<f32> = (0..nx)
        .map(|k| ((k as f64 + 0.5) * spec.res()) as f32)
        .collect();

    let mut f = netcdf::create(path).map_err(e)?;
    let res = format!("{} degree", spec.res());
    let globals: [(&str, &str); 11] = [
        ("title", text.title),
        ("Conventions", "CF-1.8"),
        ("source", "OceanQL synthetic demo"),
        ("institution", "OceanQL"),
        ("history", "written by `oceanql demo`"),
        ("comment", text.comment),
        ("license", "Apache-2.0"),
        ("geospatial_lat_resolution", &res),
        ("geospatial_lon_resolution", &res),
        ("time_coverage_start", &text.coverage.0),
        ("time_coverage_end", &text.coverage.1),
    ];
    for (k, v) in globals {
        f.add_attribute(k, v).map_err(e)?;
    }
    f.add_attribute("geospatial_lat_min", -90.0f32).map_err(e)?;
    f.add_attribute("geospatial_lat_max", 90.0f32).map_err(e)?;
    f.add_attribute("geospatial_lon_min", 0.0f32).map_err(e)?;
    f.add_attribute("geospatial_lon_max", 360.0f32).map_err(e)?;
    f.add_dimension("time", text.times.len()).map_err(e)?;
    f.add_dimension("lat", ny).map_err(e)?;
    f.add_dimension("lon", nx).map_err(e)?;

    {
        let mut v = f.add_variable::<f64>("time", &["time"]).map_err(e)?;
        v.put_attribute("standard_name", "time").map_err(e)?;
        v.put_attribute("long_name", text.time_long_name)
            .map_err(e)?;
        v.put_attribute("units", "days since 1981-01-01 00:00:00")
            .map_err(e)?;
        v.put_attribute("calendar", "gregorian").map_err(e)?;
        v.put_attribute("axis", "T").map_err(e)?;
        v.put_values(&text.times, ..).map_err(e)?;
    }
    {
        let mut v = f.add_variable::<f32>("lat", &["lat"]).map_err(e)?;
        v.put_attribute("standard_name", "latitude").map_err(e)?;
        v.put_attribute("long_name", "latitude").map_err(e)?;
        v.put_attribute("units", "degrees_north").map_err(e)?;
        v.put_attribute("axis", "Y").map_err(e)?;
        v.put_attribute("valid_min", -90.0f32).map_err(e)?;
        v.put_attribute("valid_max", 90.0f32).map_err(e)?;
        v.put_values(&lats, ..).map_err(e)?;
    }
    {
        let mut v = f.add_variable::<f32>("lon", &["lon"]).map_err(e)?;
        v.put_attribute("standard_name", "longitude").map_err(e)?;
        v.put_attribute("long_name", "longitude").map_err(e)?;
        v.put_attribute("units", "degrees_east").map_err(e)?;
        v.put_attribute("axis", "X").map_err(e)?;
        v.put_attribute("valid_min", 0.0f32).map_err(e)?;
        v.put_attribute("valid_max", 360.0f32).map_err(e)?;
        v.put_values(&lons, ..).map_err(e)?;
    }
    {
        let mut v = f
            .add_variable::<i16>("sst", &["time", "lat", "lon"])
            .map_err(e)?;
        v.set_chunking(&[1, spec.chunk.0, spec.chunk.1])
            .map_err(e)?;
        v.set_compression(4, true).map_err(e)?;
        v.set_fill_value(FILL).map_err(e)?;
        v.put_attribute("long_name", text.sst_long_name)
            .map_err(e)?;
        v.put_attribute("standard_name", "sea_surface_foundation_temperature")
            .map_err(e)?;
        v.put_attribute("units", "degree_Celsius").map_err(e)?;
        v.put_attribute("scale_factor", SCALE).map_err(e)?;
        v.put_attribute("add_offset", 0.0f64).map_err(e)?;
        v.put_attribute("valid_min", -300i16).map_err(e)?;
        v.put_attribute("valid_max", 4500i16).map_err(e)?;
        if let Some(methods) = text.cell_methods {
            v.put_attribute("cell_methods", methods).map_err(e)?;
        }
        v.put_values(buf.as_slice(), ..).map_err(e)?;
    }
    f.close().map_err(e)
}

/// A packed int16 variable of a Zarr store on the demo grid.
struct ZarrVar {
    name: &'static str,
    long_name: &'static str,
    standard_name: &'static str,
    units: &'static str,
    scale: f64,
    offset: f64,
    /// valid_min, valid_max (packed).
    valid: (i16, i16),
    fill: i16,
}

/// Creates a Zarr v3 store of daily `vars` on the demo grid (with its `lat`, `lon` and
/// `time` coordinates), chunked (1, `chunk`), and returns the arrays of `vars`, in order.
fn create_zarr(
    path: &Path,
    spec: &Spec,
    chunk: (usize, usize),
    title: &str,
    vars: &[ZarrVar],
) -> Result<Vec<Array<FilesystemStore>>> {
    let ze = |what: &'static str| move |err: Box<dyn std::error::Error>| fail(what, path, err);
    if path.exists() {
        // Only ever replace a previous demo store: stale chunks of an all-land region
        // would otherwise survive (all-fill chunks are not written).
        if !path.join("zarr.json").is_file() {
            return Err(fail(
                "refusing to overwrite (not a Zarr store)",
                path,
                "zarr.json missing",
            ));
        }
        fs::remove_dir_all(path).map_err(|e| fail("removing previous store", path, e))?;
    }
    fs::create_dir_all(path).map_err(|e| fail("creating directory", path, e))?;
    let store =
        Arc::new(FilesystemStore::new(path).map_err(|e| ze("opening Zarr store")(e.into()))?);
    let meta = ArrayMetadataOptions::default().with_include_zarrs_metadata(false);
    let (nx, ny, days) = (spec.nx(), spec.ny(), spec.days);

    let mut group = GroupBuilder::new()
        .build(store.clone(), "/")
        .map_err(|e| ze("creating Zarr group")(e.into()))?;
    {
        let a = group.attributes_mut();
        a.insert("title".into(), title.into());
        a.insert("Conventions".into(), "CF-1.8".into());
        a.insert("source".into(), "OceanQL synthetic demo".into());
        a.insert("history".into(), "written by `oceanql demo`".into());
        a.insert("license".into(), "Apache-2.0".into());
    }
    group
        .store_metadata()
        .map_err(|e| ze("writing Zarr group metadata")(e.into()))?;

    let coord = |name: &str, values: Vec<f64>, attrs: &[(&str, &str)]| -> Result<()> {
        let n = values.len() as u64;
        let mut b = ArrayBuilder::new(vec![n], vec![n], data_type::float64(), f64::NAN);
        b.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))]);
        b.dimension_names(Some([name]));
        for (k, v) in attrs {
            b.attributes_mut().insert((*k).into(), (*v).into());
        }
        let a = b
            .build(store.clone(), &format!("/{name}"))
            .map_err(|e| ze("creating Zarr array")(e.into()))?;
        a.store_metadata_opt(&meta)
            .map_err(|e| ze("writing Zarr metadata")(e.into()))?;
        a.store_chunk(&[0], values)
            .map_err(|e| ze("writing Zarr chunk")(e.into()))?;
        Ok(())
    };
    coord(
        "lat",
        (0..ny).map(|i| spec.lat(i)).collect(),
        &[
            ("standard_name", "latitude"),
            ("long_name", "latitude"),
            ("units", "degrees_north"),
            ("axis", "Y"),
        ],
    )?;
    coord(
        "lon",
        (0..nx).map(|j| spec.lon(j)).collect(),
        &[
            ("standard_name", "longitude"),
            ("long_name", "longitude"),
            ("units", "degrees_east"),
            ("axis", "X"),
        ],
    )?;

    let mut b = ArrayBuilder::new(
        vec![days as u64],
        vec![days.max(1) as u64],
        data_type::int64(),
        0i64,
    );
    b.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))]);
    b.dimension_names(Some(["time"]));
    for (k, v) in [
        ("standard_name", "time"),
        ("long_name", "time"),
        ("units", "days since 2023-01-01"),
        ("calendar", "proleptic_gregorian"),
        ("axis", "T"),
    ] {
        b.attributes_mut().insert(k.into(), v.into());
    }
    let time = b
        .build(store.clone(), "/time")
        .map_err(|e| ze("creating Zarr array")(e.into()))?;
    time.store_metadata_opt(&meta)
        .map_err(|e| ze("writing Zarr metadata")(e.into()))?;
    time.store_chunk(&[0], (0..days as i64).collect::<Vec<i64>>())
        .map_err(|e| ze("writing Zarr chunk")(e.into()))?;

    let mut arrays = Vec::with_capacity(vars.len());
    for var in vars {
        let mut b = ArrayBuilder::new(
            vec![days as u64, ny as u64, nx as u64],
            vec![1, chunk.0 as u64, chunk.1 as u64],
            data_type::int16(),
            var.fill,
        );
        b.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))]);
        b.dimension_names(Some(["time", "lat", "lon"]));
        let a = b.attributes_mut();
        a.insert("long_name".into(), var.long_name.into());
        a.insert("standard_name".into(), var.standard_name.into());
        a.insert("units".into(), var.units.into());
        a.insert("scale_factor".into(), var.scale.into());
        a.insert("add_offset".into(), var.offset.into());
        a.insert("_FillValue".into(), var.fill.into());
        a.insert("valid_min".into(), var.valid.0.into());
        a.insert("valid_max".into(), var.valid.1.into());
        let array = b
            .build(store.clone(), &format!("/{}", var.name))
            .map_err(|e| ze("creating Zarr array")(e.into()))?;
        array
            .store_metadata_opt(&meta)
            .map_err(|e| ze("writing Zarr metadata")(e.into()))?;
        arrays.push(array);
    }
    Ok(arrays)
}

/// Stores one day (all its chunks) of a (time, lat, lon) array made by [`create_zarr`].
fn store_zarr_day(
    array: &Array<FilesystemStore>,
    path: &Path,
    day: usize,
    raw: &[i16],
) -> Result<()> {
    let (cy, cx) = match array.chunk_grid_shape() {
        [_, cy, cx] => (*cy, *cx),
        _ => {
            return Err(fail(
                "writing Zarr chunks",
                path,
                "not a (time, lat, lon) array",
            ));
        }
    };
    let d = day as u64;
    array
        .store_chunks(&[d..d + 1, 0..cy, 0..cx], raw)
        .map_err(|e| fail(&format!("writing Zarr chunks of day {day} of"), path, e))
}

// ---------------------------------------------------------------------------------
// Drifters
// ---------------------------------------------------------------------------------

struct Track {
    lat: Vec<f64>,
    lon: Vec<f64>,
    sst: Vec<f64>,
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
}

/// Mean zonal current (degrees per day): westward in the tropics, eastward at 45°.
fn mean_u(lat: f64) -> f64 {
    let y = lat / 8.0;
    let z = (lat.abs() - 45.0) / 8.0;
    -0.12 * (-0.5 * y * y).exp() + 0.08 * (-0.5 * z * z).exp()
}

/// One drifter: a random walk (AR(1) velocities around a mean current) that never
/// steps on land; 6-hourly fixes; measured SST = field + N(0, 0.2).
fn drifter_track(model: &Model, id: usize, fixes: usize) -> Track {
    let mut rng = Rng::new(SEED ^ 0xD41F_7E00_0000 ^ (id as u64).wrapping_mul(0x1000_0001));
    let dt = 1.0 / FIXES_PER_DAY as f64;
    let memory = (-dt / 3.0f64).exp(); // 3-day velocity decorrelation
    let sigma = 0.15; // degrees per day
    let kick = sigma * (1.0 - memory * memory).sqrt();
    let (s0, s1) = ((-60.0f64).to_radians().sin(), 60.0f64.to_radians().sin());
    let (mut lat, mut lon) = loop {
        let lat = round_to(rng.uniform(s0, s1).asin().to_degrees(), 4);
        let lon = round_to(rng.uniform(-180.0, 180.0), 4);
        if !is_land(lat, lon) {
            break (lat, wrap_lon(lon));
        }
    };
    let (mut up, mut vp) = (sigma * rng.normal(), sigma * rng.normal());
    let mut track = Track {
        lat: Vec::with_capacity(fixes),
        lon: Vec::with_capacity(fixes),
        sst: Vec::with_capacity(fixes),
    };
    for n in 0..fixes {
        if n > 0 {
            up = memory * up + kick * rng.normal();
            vp = memory * vp + kick * rng.normal();
            let step = |up: f64, vp: f64| {
                let mut nlat = lat + vp * dt;
                if nlat.abs() > 80.0 {
                    nlat = nlat.signum() * 160.0 - nlat;
                }
                let nlon = lon + (mean_u(lat) + up) * dt / lat.to_radians().cos().max(0.1);
                (round_to(nlat, 4), wrap_lon(round_to(wrap_lon(nlon), 4)))
            };
            let mut next = step(up, vp);
            let mut tries = 0;
            while is_land(next.0, next.1) && tries < 8 {
                // Bounce: a new random velocity, until the step stays at sea.
                up = 1.5 * sigma * rng.normal();
                vp = 1.5 * sigma * rng.normal();
                next = step(up, vp);
                tries += 1;
            }
            if is_land(next.0, next.1) {
                (up, vp) = (0.0, 0.0);
            } else {
                (lat, lon) = next;
            }
        }
        let t = n as f64 * dt;
        let truth = model.smooth(lat, lon, t, &model.eddies_at(t)).max(FREEZING);
        track.lat.push(lat);
        track.lon.push(lon);
        track.sst.push(round_to(truth + 0.2 * rng.normal(), 3));
    }
    track
}

/// Writes `drifters.parquet` and returns the tracks (the L2P granules are placed on them).
fn write_drifters(path: &Path, spec: &Spec, model: &Model) -> Result<Vec<Track>> {
    let per = spec.fixes_per_drifter();
    let fixes = |id: usize| spec.max_records.saturating_sub(id * per).min(per);
    let n = spec.drifters;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, n.max(1));
    let tracks: Vec<Track> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let range = (w * n / workers)..((w + 1) * n / workers);
                s.spawn(move || {
                    range
                        .map(|id| drifter_track(model, id, fixes(id)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(n);
        for h in handles {
            match h.join() {
                Ok(t) => all.extend(t),
                Err(_) => {
                    return Err(DataFusionError::Internal(
                        "oceanql demo: a drifter thread panicked".into(),
                    ));
                }
            }
        }
        Ok(all)
    })?;

    let rows: usize = tracks.iter().map(|t| t.lat.len()).sum();
    let mut ids = Vec::with_capacity(rows);
    let mut times = Vec::with_capacity(rows);
    let step_us = 86_400_000_000 / FIXES_PER_DAY as i64;
    for (id, t) in tracks.iter().enumerate() {
        let name = format!("DRIFTER-{:04}", id + 1);
        for k in 0..t.lat.len() {
            ids.push(name.clone());
            times.push(EPOCH_2023_US + k as i64 * step_us);
        }
    }
    let cat = |f: fn(&Track) -> &Vec<f64>| {
        tracks
            .iter()
            .flat_map(|t| f(t).iter().copied())
            .collect::<Vec<f64>>()
    };
    let meta = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("platform_id", DataType::Utf8, false)
            .with_metadata(meta(&[("long_name", "drifter identifier")])),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        )
        .with_metadata(meta(&[
            ("standard_name", "time"),
            ("long_name", "time of the fix"),
        ])),
        Field::new("lat", DataType::Float64, false).with_metadata(meta(&[
            ("standard_name", "latitude"),
            ("units", "degrees_north"),
        ])),
        Field::new("lon", DataType::Float64, false).with_metadata(meta(&[
            ("standard_name", "longitude"),
            ("units", "degrees_east"),
        ])),
        Field::new("sst", DataType::Float64, true).with_metadata(meta(&[
            ("standard_name", "sea_surface_temperature"),
            ("long_name", "drifter sea surface temperature (synthetic)"),
            ("units", "degree_Celsius"),
        ])),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
        Arc::new(Float64Array::from(cat(|t| &t.lat))),
        Arc::new(Float64Array::from(cat(|t| &t.lon))),
        Arc::new(Float64Array::from(cat(|t| &t.sst))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;

    let sorting = ["platform_id", "time"]
        .iter()
        .enumerate()
        .map(|(i, _)| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: false,
        })
        .collect();
    const PAGE_ROWS: usize = 1024;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(100_000))
        // Pages of 1,024 fixes (a quarter of a drifter's year): the page index then prunes
        // a time and place down to the pages of the drifters that were there.
        .set_data_page_row_count_limit(PAGE_ROWS)
        // No dictionary for the numbers (nearly all distinct): a dictionary page would be
        // read whole for any page of its row group.
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("platform_id"), true)
        .set_write_batch_size(PAGE_ROWS)
        .set_sorting_columns(Some(sorting))
        .build();
    let file = fs::File::create(path).map_err(|e| fail("creating", path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))
        .map_err(|e| fail("writing Parquet", path, e))?;
    const BATCH: usize = 65_536;
    let mut offset = 0;
    while offset < batch.num_rows() {
        let len = BATCH.min(batch.num_rows() - offset);
        writer
            .write(&batch.slice(offset, len))
            .map_err(|e| fail("writing Parquet", path, e))?;
        offset += len;
    }
    writer
        .close()
        .map_err(|e| fail("writing Parquet", path, e))?;
    Ok(tracks)
}

// ---------------------------------------------------------------------------------
// L2P swaths
// ---------------------------------------------------------------------------------
//
// `l2p/*.nc`: GHRSST L2P-like swath granules (lines x pixels, 2-D float32 lat/lon),
// each one a tilted band of an orbit centred near a drifter fix:
//
// * granule k picks drifter `rng % drifters` and one of its fixes at random; the fix
//   lies at a random fractional (line, pixel) of the swath (lines 60..240, pixels
//   20..100), the swath heads 10..20° off north or south (ascending or descending),
//   pixels are 1 km apart along and across track;
// * one line per second: `time` (seconds since 1981) is the time of line 0 and
//   `sst_dtime` the line number (seconds); the fix's line is seen within ±30 min of
//   the fix;
// * sea_surface_temperature (int16, kelvin, scale 0.01, offset 273.15, _FillValue
//   -32768) = field(lat, lon, pixel time) + 273.15 - 0.17 K (cool skin) + noise:
//   quality_level 5: N(0, 0.25 K); 4 (8 % of the pixels, and the 4 pixels at each
//   edge): N(0, 0.35); 3 (next to clouds): -0.4 K + N(0, 0.5); 2 (4 %): -0.5 K +
//   N(0, 0.8). Clouds (quality_level 1) and land (0) are fill: clouds are a smooth
//   random field (a 12-pixel lattice of uniform numbers, bilinear) above a threshold,
//   about 15 % of the pixels;
// * solar_zenith_angle (int8, scale 1, offset 90, degrees): the sun's zenith angle at
//   the pixel and time (declination -23.44° cos(2π (day + 10) / 365), hour angle from
//   UTC time + lon / 15 h); night is solar_zenith_angle > 90;
// * outlier seeds: in the first L2P_SEEDS granules whose fix is at night (sza > 92°),
//   the pixel nearest the fix and the next pixel across track are clear, quality 5,
//   and 3 K too warm. `matchups.sql` finds them as the worst outliers.

const L2P_GRANULES: usize = 40;
const L2P_LINES: usize = 300;
const L2P_PIXELS: usize = 120;
const L2P_SEEDS: usize = 5;
/// Cool skin: satellite skin SST minus the (bulk) field, K.
const COOL_SKIN: f64 = -0.17;
const KM_PER_DEGREE: f64 = 111.195;
/// Seconds from 1981-01-01 to 2023-01-01.
const SECONDS_1981_TO_2023: i64 = 15340 * 86_400;
const L2P_OFFSET: f64 = 273.15;
const CLOUD_CELL: usize = 12;
const CLOUD_THRESHOLD: f64 = 0.71;

/// Solar zenith angle (degrees) at (lat, lon) and `t` days since 2023-01-01 (UTC).
fn solar_zenith(lat: f64, lon: f64, t: f64) -> f64 {
    let decl = (-23.44f64).to_radians() * (2.0 * PI * (t.floor() + 10.0) / 365.0).cos();
    let hours = (t - t.floor()) * 24.0 + lon / 15.0;
    let h = ((hours - 12.0) * 15.0).to_radians();
    let phi = lat.to_radians();
    let c = phi.sin() * decl.sin() + phi.cos() * decl.cos() * h.cos();
    c.clamp(-1.0, 1.0).acos().to_degrees()
}

/// One L2P granule, ready to write.
struct Granule {
    name: String,
    lines: usize,
    pixels: usize,
    /// Seconds since 1981-01-01 of line 0.
    time: i32,
    lat: Vec<f32>,
    lon: Vec<f32>,
    sst: Vec<i16>,
    dtime: Vec<i16>,
    quality: Vec<i8>,
    sza: Vec<i8>,
}

/// Where a swath lies: pixels 1 km apart along and across a track heading `heading`
/// (clockwise from north), pixel (lf, cf) (fractional) at (lat0, lon0); one line per
/// second from `start_s`.
#[derive(Debug, Clone, Copy)]
struct SwathGeometry {
    lat0: f64,
    lon0: f64,
    lf: f64,
    cf: f64,
    heading: f64,
    /// Seconds since 2023-01-01 of line 0.
    start_s: i64,
}

impl SwathGeometry {
    /// (lat, lon) of the fractional pixel (line j, pixel i).
    fn at(&self, j: f64, i: f64) -> (f64, f64) {
        let (su, cu) = self.heading.sin_cos();
        let coslat = self.lat0.to_radians().cos().max(0.05);
        let (a, c) = (j - self.lf, i - self.cf);
        let east = a * su + c * cu;
        let north = a * cu - c * su;
        let lat = self.lat0 + north / KM_PER_DEGREE;
        let lon = wrap_lon(self.lon0 + east / (KM_PER_DEGREE * coslat));
        (lat, lon)
    }
}

/// A swath instrument: granule size and SST noise (K) of quality levels 5 and 4, plus
/// a bias added to every pixel.
struct Sensor {
    lines: usize,
    pixels: usize,
    bias: f64,
    sigma_best: f64,
    sigma_acceptable: f64,
}

const SENSOR_A: Sensor = Sensor {
    lines: L2P_LINES,
    pixels: L2P_PIXELS,
    bias: 0.0,
    sigma_best: 0.25,
    sigma_acceptable: 0.35,
};

/// A swath through a random drifter fix: picks the drifter, the fix, the fix's
/// fractional (line, pixel) in `lines` x `pixels` ranges, a time offset within ±30 min
/// and a heading 10..20° off north or south. Returns the geometry and the fix's time
/// (seconds since 2023-01-01, with the offset).
fn swath_on_a_fix(
    rng: &mut Rng,
    tracks: &[Track],
    lines: (f64, f64),
    pixels: (f64, f64),
) -> (SwathGeometry, i64) {
    let id = (rng.next_u64() % tracks.len() as u64) as usize;
    let track = &tracks[id];
    let n = (rng.next_u64() % track.lat.len() as u64) as usize;
    let fix_s = (n as i64) * 86_400 / FIXES_PER_DAY as i64; // since 2023-01-01
    let lf = rng.uniform(lines.0, lines.1);
    let cf = rng.uniform(pixels.0, pixels.1);
    let offset = (rng.uniform(-1800.0, 1800.0)).round() as i64;
    let ascending = rng.uniform(0.0, 1.0) < 0.5;
    let tilt = rng.uniform(10.0, 20.0);
    let heading = (if ascending { -tilt } else { 180.0 + tilt }).to_radians();
    let geometry = SwathGeometry {
        lat0: track.lat[n],
        lon0: track.lon[n],
        lf,
        cf,
        heading,
        start_s: fix_s + offset - lf.floor() as i64,
    };
    (geometry, fix_s + offset)
}

fn make_granule(
    model: &Model,
    k: usize,
    tracks: &[Track],
    seeds: &mut usize,
) -> (Granule, SwathGeometry) {
    let mut rng = Rng::new(SEED ^ 0x12F0_0000 ^ (k as u64).wrapping_mul(0x9E37_79B9));
    let (geometry, fix_s) = swath_on_a_fix(&mut rng, tracks, (60.0, 240.0), (20.0, 100.0));
    let t_fix = fix_s as f64 / 86_400.0;
    let seeded = *seeds < L2P_SEEDS && solar_zenith(geometry.lat0, geometry.lon0, t_fix) > 92.0;
    if seeded {
        *seeds += 1;
    }
    let seed = seeded.then(|| (geometry.lf.round() as usize, geometry.cf.round() as usize));
    let mut g = fill_swath(model, &geometry, &SENSOR_A, t_fix, &mut rng, seed);
    g.name = format!(
        "{}-OCEANQL-L2P_GHRSST-SSTskin-DEMO_{k:02}-v02.0-fv01.0.nc",
        swath_stamp(&geometry)
    );
    (g, geometry)
}

/// `YYYYMMDDHHMMSS` of a swath's line 0.
fn swath_stamp(geometry: &SwathGeometry) -> String {
    let start = chrono::DateTime::from_timestamp(EPOCH_2023_US / 1_000_000 + geometry.start_s, 0)
        .unwrap_or_default();
    start.format("%Y%m%d%H%M%S").to_string()
}

/// The pixels of one swath (clouds, quality levels, SST, solar zenith angle); the
/// eddies are taken at `t_eddies` (days). `seed`: the (line, pixel) of a 3 K outlier
/// pair (that pixel and the next one across track).
fn fill_swath(
    model: &Model,
    geometry: &SwathGeometry,
    sensor: &Sensor,
    t_eddies: f64,
    rng: &mut Rng,
    seed: Option<(usize, usize)>,
) -> Granule {
    let (nl, np) = (sensor.lines, sensor.pixels);
    // Cloud lattice.
    let (cl, cp) = (nl / CLOUD_CELL + 2, np / CLOUD_CELL + 2);
    let lattice: Vec<f64> = (0..cl * cp).map(|_| rng.uniform(0.0, 1.0)).collect();
    let cloud = |j: usize, i: usize| {
        let (y, x) = (j as f64 / CLOUD_CELL as f64, i as f64 / CLOUD_CELL as f64);
        let (y0, x0) = (y.floor() as usize, x.floor() as usize);
        let (fy, fx) = (y - y0 as f64, x - x0 as f64);
        let v = |a: usize, b: usize| lattice[a * cp + b];
        (1.0 - fy) * ((1.0 - fx) * v(y0, x0) + fx * v(y0, x0 + 1))
            + fy * ((1.0 - fx) * v(y0 + 1, x0) + fx * v(y0 + 1, x0 + 1))
    };

    let eddies = model.eddies_at(t_eddies);
    let total = nl * np;
    let mut g = Granule {
        name: String::new(),
        lines: nl,
        pixels: np,
        time: (SECONDS_1981_TO_2023 + geometry.start_s) as i32,
        lat: Vec::with_capacity(total),
        lon: Vec::with_capacity(total),
        sst: Vec::with_capacity(total),
        dtime: Vec::with_capacity(total),
        quality: Vec::with_capacity(total),
        sza: Vec::with_capacity(total),
    };
    for j in 0..nl {
        let t = (geometry.start_s + j as i64) as f64 / 86_400.0;
        for i in 0..np {
            let (lat, lon) = geometry.at(j as f64, i as f64);
            let (lat, lon) = (lat as f32, lon as f32);
            let (la, lo) = (lat as f64, lon as f64);
            g.lat.push(lat);
            g.lon.push(lon);
            g.dtime.push(j as i16);
            g.sza.push((solar_zenith(la, lo, t) - 90.0).round() as i8);
            let is_seed = seed.is_some_and(|(sl, sp)| j == sl && (i == sp || i == sp + 1));
            let near_seed = seed.is_some_and(|(sl, sp)| j.abs_diff(sl) <= 3 && i.abs_diff(sp) <= 4);
            let u = rng.uniform(0.0, 1.0);
            let noise = rng.normal();
            let cv = cloud(j, i);
            let (q, bias, sigma) = if is_land(la, lo) {
                (0, 0.0, 0.0)
            } else if is_seed {
                (5, 3.0, sensor.sigma_best)
            } else if cv > CLOUD_THRESHOLD && !near_seed {
                (1, 0.0, 0.0)
            } else if cv > CLOUD_THRESHOLD - 0.04 && !near_seed {
                (3, -0.4, 0.5)
            } else if u < 0.04 {
                (2, -0.5, 0.8)
            } else if u < 0.12 || i < 4 || i >= np - 4 {
                (4, 0.0, sensor.sigma_acceptable)
            } else {
                (5, 0.0, sensor.sigma_best)
            };
            let bias = bias + sensor.bias;
            g.quality.push(q);
            g.sst.push(if q <= 1 {
                FILL
            } else {
                let truth = model.smooth(la, lo, t, &eddies).max(FREEZING);
                let celsius = truth + COOL_SKIN + bias + sigma * noise;
                (celsius / SCALE).round().clamp(-32767.0, 32767.0) as i16
            });
        }
    }
    g
}

/// Removes the `.nc` files of a previous run from `dir` (names may differ) and
/// creates it.
fn clear_nc_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        for entry in fs::read_dir(dir).map_err(|e| fail("listing", dir, e))? {
            let path = entry.map_err(|e| fail("listing", dir, e))?.path();
            if path.extension().is_some_and(|x| x == "nc") {
                fs::remove_file(&path).map_err(|e| fail("removing", &path, e))?;
            }
        }
    }
    fs::create_dir_all(dir).map_err(|e| fail("creating directory", dir, e))
}

/// The drifter tracks' positions, without the empty ones (the swaths are placed on them).
fn positions(tracks: &[Track]) -> Vec<Track> {
    tracks
        .iter()
        .filter(|t| !t.lat.is_empty())
        .map(|t| Track {
            lat: t.lat.clone(),
            lon: t.lon.clone(),
            sst: vec![],
        })
        .collect()
}

/// Writes `l2p/*.nc` (see the comment above [`L2P_GRANULES`]) and returns the
/// granules' geometries.
fn write_l2p(
    dir: &Path,
    spec: &Spec,
    model: &Model,
    tracks: &[Track],
) -> Result<Vec<SwathGeometry>> {
    let l2p = dir.join("l2p");
    clear_nc_dir(&l2p)?;
    let tracks = positions(tracks);
    if tracks.is_empty() {
        return Ok(vec![]);
    }
    let mut seeds = 0;
    let mut geometries = Vec::with_capacity(spec.l2p_granules);
    for k in 0..spec.l2p_granules {
        let (g, geometry) = make_granule(model, k, &tracks, &mut seeds);
        write_l2p_granule(&l2p.join(&g.name), &g, L2P_ATTRIBUTES)?;
        geometries.push(geometry);
    }
    Ok(geometries)
}

/// Global attributes of the `l2p/` granules.
const L2P_ATTRIBUTES: &[(&str, &str)] = &[
    (
        "title",
        "OceanQL synthetic demo: GHRSST L2P-like swath of skin SST",
    ),
    ("Conventions", "CF-1.7, ACDD-1.3"),
    ("source", "OceanQL synthetic demo"),
    ("institution", "OceanQL"),
    ("history", "written by `oceanql demo`"),
    ("processing_level", "L2P"),
    ("gds_version_id", "2.0"),
    (
        "comment",
        "Synthetic data, NOT real observations: the demo SST field, cool skin -0.17 K, noise, \
         clouds, and 3 K outlier seeds next to a few drifter fixes.",
    ),
    ("license", "Apache-2.0"),
];

fn write_l2p_granule(path: &Path, g: &Granule, attributes: &[(&str, &str)]) -> Result<()> {
    let e = |err: netcdf::Error| fail("writing NetCDF", path, err);
    let dims = ["time", "nj", "ni"];
    let mut f = netcdf::create(path).map_err(e)?;
    for &(k, v) in attributes {
        f.add_attribute(k, v).map_err(e)?;
    }
    f.add_dimension("time", 1).map_err(e)?;
    f.add_dimension("nj", g.lines).map_err(e)?;
    f.add_dimension("ni", g.pixels).map_err(e)?;
    {
        let mut v = f.add_variable::<i32>("time", &["time"]).map_err(e)?;
        v.put_attribute("standard_name", "time").map_err(e)?;
        v.put_attribute("long_name", "reference time of sst file")
            .map_err(e)?;
        v.put_attribute("units", "seconds since 1981-01-01 00:00:00")
            .map_err(e)?;
        v.put_attribute("axis", "T").map_err(e)?;
        v.put_values(&[g.time], ..).map_err(e)?;
    }
    for (name, values, std, units, lo, hi) in [
        (
            "lat",
            &g.lat,
            "latitude",
            "degrees_north",
            -90.0f32,
            90.0f32,
        ),
        ("lon", &g.lon, "longitude", "degrees_east", -180.0, 180.0),
    ] {
        let mut v = f.add_variable::<f32>(name, &["nj", "ni"]).map_err(e)?;
        v.set_compression(4, true).map_err(e)?;
        v.put_attribute("standard_name", std).map_err(e)?;
        v.put_attribute("units", units).map_err(e)?;
        v.put_attribute("valid_min", lo).map_err(e)?;
        v.put_attribute("valid_max", hi).map_err(e)?;
        v.put_values(values.as_slice(), ..).map_err(e)?;
    }
    {
        let mut v = f
            .add_variable::<i16>("sea_surface_temperature", &dims)
            .map_err(e)?;
        v.set_compression(4, true).map_err(e)?;
        v.set_fill_value(FILL).map_err(e)?;
        v.put_attribute("long_name", "sea surface skin temperature")
            .map_err(e)?;
        v.put_attribute("standard_name", "sea_surface_skin_temperature")
            .map_err(e)?;
        v.put_attribute("units", "kelvin").map_err(e)?;
        v.put_attribute("scale_factor", SCALE).map_err(e)?;
        v.put_attribute("add_offset", L2P_OFFSET).map_err(e)?;
        v.put_attribute("valid_min", -1000i16).map_err(e)?;
        v.put_attribute("valid_max", 5000i16).map_err(e)?;
        v.put_attribute("coordinates", "lon lat").map_err(e)?;
        v.put_values(g.sst.as_slice(), ..).map_err(e)?;
    }
    {
        let mut v = f.add_variable::<i16>("sst_dtime", &dims).map_err(e)?;
        v.set_compression(4, true).map_err(e)?;
        v.set_fill_value(FILL).map_err(e)?;
        v.put_attribute("long_name", "time difference from reference time")
            .map_err(e)?;
        v.put_attribute("units", "seconds").map_err(e)?;
        v.put_attribute("scale_factor", 1.0f64).map_err(e)?;
        v.put_attribute("add_offset", 0.0f64).map_err(e)?;
        v.put_attribute("coordinates", "lon lat").map_err(e)?;
        v.put_values(g.dtime.as_slice(), ..).map_err(e)?;
    }
    {
        let mut v = f.add_variable::<i8>("quality_level", &dims).map_err(e)?;
        v.set_compression(4, true).map_err(e)?;
        v.set_fill_value(-128i8).map_err(e)?;
        v.put_attribute("long_name", "quality level of SST pixel")
            .map_err(e)?;
        v.put_attribute("valid_min", 0i8).map_err(e)?;
        v.put_attribute("valid_max", 5i8).map_err(e)?;
        v.put_attribute("flag_values", vec![0i8, 1, 2, 3, 4, 5])
            .map_err(e)?;
        v.put_attribute(
            "flag_meanings",
            "no_data bad_data worst_quality low_quality acceptable_quality best_quality",
        )
        .map_err(e)?;
        v.put_attribute("coordinates", "lon lat").map_err(e)?;
        v.put_values(g.quality.as_slice(), ..).map_err(e)?;
    }
    {
        let mut v = f
            .add_variable::<i8>("solar_zenith_angle", &dims)
            .map_err(e)?;
        v.set_compression(4, true).map_err(e)?;
        v.set_fill_value(-128i8).map_err(e)?;
        v.put_attribute("long_name", "solar zenith angle")
            .map_err(e)?;
        v.put_attribute("units", "angular_degree").map_err(e)?;
        v.put_attribute("scale_factor", 1.0f64).map_err(e)?;
        v.put_attribute("add_offset", 90.0f64).map_err(e)?;
        v.put_attribute("coordinates", "lon lat").map_err(e)?;
        v.put_values(g.sza.as_slice(), ..).map_err(e)?;
    }
    f.close().map_err(e)
}

// ---------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------

fn sql_string(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "''"))
}

fn write_catalog(dir: &Path, spec: &Spec) -> Result<PathBuf> {
    let path = dir.join("catalog.sql");
    let res = if spec.cells_per_degree == 1 {
        "1°".to_string()
    } else {
        format!("{}°", spec.res())
    };
    let records = (0..spec.drifters)
        .map(|id| {
            spec.max_records
                .saturating_sub(id * spec.fixes_per_drifter())
                .min(spec.fixes_per_drifter())
        })
        .sum::<usize>();
    let mut nc_dir = dir.join("sst_nc").display().to_string();
    nc_dir.push('/');
    let text = format!(
        "-- OceanQL demo catalog, written by `oceanql demo` (synthetic, deterministic data).\n\
         -- sst      : global daily SST for 2023 on a {res} grid, one CF-1.8 NetCDF-4 file per day\n\
         --            (int16 packed, NULL on land); columns time, lat, lon, sst, granule, indices\n\
         -- sst_zarr : the same field as one Zarr v3 store\n\
         -- drifters : {drifters} synthetic surface drifters, 6-hourly fixes ({records} records):\n\
         --            platform_id, time, lat, lon, sst (the field + N(0, 0.2 °C) noise)\n\
         -- l2p      : {l2p} GHRSST L2P-like swath granules ({lines} lines x {pixels} pixels) near drifter\n\
         --            fixes: time, lat, lon, sea_surface_temperature (K), sst_dtime, quality_level,\n\
         --            solar_zenith_angle, granule, row, cell (see sql-examples/matchups.sql)\n\
         CREATE EXTERNAL TABLE sst STORED AS NETCDF LOCATION {nc};\n\
         CREATE EXTERNAL TABLE sst_zarr STORED AS ZARR LOCATION {zarr};\n\
         CREATE EXTERNAL TABLE drifters STORED AS PARQUET LOCATION {parquet};\n\
         CREATE EXTERNAL TABLE l2p STORED AS NETCDF LOCATION {l2p_glob};\n",
        drifters = spec.drifters,
        nc = sql_string(Path::new(&nc_dir)),
        zarr = sql_string(&dir.join("sst.zarr")),
        parquet = sql_string(&dir.join("drifters.parquet")),
        l2p = spec.l2p_granules,
        lines = L2P_LINES,
        pixels = L2P_PIXELS,
        l2p_glob = sql_string(&dir.join("l2p").join("*.nc")),
    ) + &catalog_extras(dir, spec);
    let mut f = fs::File::create(&path).map_err(|e| fail("creating", &path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| fail("writing", &path, e))?;
    Ok(path)
}

/// The catalog lines of `sst_monthly`, `wind` and `l2p_b` (standard data set only) and
/// `sst_long` (benchmark only).
fn catalog_extras(dir: &Path, spec: &Spec) -> String {
    let mut text = String::new();
    if let Some((first, last)) = spec.monthly_years {
        let mut monthly = dir.join("sst_monthly").display().to_string();
        monthly.push('/');
        text += &format!(
            "-- sst_monthly : monthly mean SST {first}-{last} on the same grid, one NetCDF file per year\n\
             --               (12 steps, time = first day of the month): climatology, trend, ENSO, the 2014-15 Blob\n\
             CREATE EXTERNAL TABLE sst_monthly STORED AS NETCDF LOCATION {};\n",
            sql_string(Path::new(&monthly))
        );
    }
    if spec.storm {
        text += &format!(
            "-- wind        : daily 10 m wind speed (m/s) and mean sea level pressure msl (hPa), one Zarr v3\n\
             --               store on the sst grid, with the hurricane of 2023-08-27..31 (Gulf of Mexico)\n\
             CREATE EXTERNAL TABLE wind STORED AS ZARR LOCATION {};\n",
            sql_string(&dir.join("wind.zarr"))
        );
    }
    if spec.long_table {
        text += &format!(
            "-- sst_long    : the daily sst grid as one long Parquet table (time, lat, lon, sst; ocean\n\
             --               cells only, in time, lat, lon order), for the benchmark's peers\n\
             CREATE EXTERNAL TABLE sst_long STORED AS PARQUET LOCATION {};\n",
            sql_string(&dir.join("sst_long.parquet"))
        );
    }
    if spec.l2p_b_granules > 0 {
        text += &format!(
            "-- l2p_b       : {} L2P-like granules of a second sensor (DEMO_B, +0.15 K), most crossing an l2p\n\
             --               granule within 3 hours: same columns as l2p\n\
             CREATE EXTERNAL TABLE l2p_b STORED AS NETCDF LOCATION {};\n",
            spec.l2p_b_granules,
            sql_string(&dir.join("l2p_b").join("*.nc"))
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array as _, AsArray, Int64Array};
    use datafusion::arrow::datatypes::{Float64Type, TimestampMicrosecondType};
    use datafusion::datasource::MemTable;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::prelude::ParquetReadOptions;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("oceanql-demo-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn small() -> Spec {
        // 3 days, 5 drifters of 12 fixes, the last one cut to 8.
        Spec {
            cells_per_degree: 1,
            days: 3,
            drifters: 5,
            max_records: 56,
            chunk: (45, 90),
            l2p_granules: 3,
            monthly_years: Some((2014, 2015)),
            storm: true,
            l2p_b_granules: 3,
            long_table: false,
        }
    }

    fn read_nc_raw(path: &Path) -> (netcdf::File, Vec<i16>) {
        let f = netcdf::open(path).unwrap();
        let raw = f.variable("sst").unwrap().get_values::<i16, _>(..).unwrap();
        (f, raw)
    }

    #[test]
    fn landmask_asset_matches_known_places() {
        assert!(is_land(23.5, 10.5), "Sahara");
        assert!(is_land(48.85, 2.35), "Paris");
        assert!(is_land(-80.5, 0.5), "Antarctica");
        assert!(!is_land(0.5, -150.5), "equatorial Pacific");
        assert!(!is_land(52.5, -140.5), "NE Pacific");
        assert!(!is_land(-40.5, 179.9), "Tasman Sea, east edge");
        // 1 = land, lake, island or ice shelf: about a third of the globe.
        let land: u32 = LANDMASK_1DEG.iter().map(|b| b.count_ones()).sum();
        assert_eq!(land, 22412);
    }

    #[test]
    fn netcdf_and_zarr_round_trip() {
        let tmp = TempDir::new("roundtrip");
        let spec = small();
        let catalog = write_with(&tmp.0, &spec).unwrap();
        let model = Model::new(true);
        let dir = fs::canonicalize(&tmp.0).unwrap();

        // catalog.sql: seven tables, absolute locations.
        let text = fs::read_to_string(&catalog).unwrap();
        assert_eq!(catalog, dir.join("catalog.sql"));
        for line in [
            format!(
                "CREATE EXTERNAL TABLE sst STORED AS NETCDF LOCATION '{}/sst_nc/';",
                dir.display()
            ),
            format!(
                "CREATE EXTERNAL TABLE sst_zarr STORED AS ZARR LOCATION '{}/sst.zarr';",
                dir.display()
            ),
            format!(
                "CREATE EXTERNAL TABLE drifters STORED AS PARQUET LOCATION '{}/drifters.parquet';",
                dir.display()
            ),
            format!(
                "CREATE EXTERNAL TABLE l2p STORED AS NETCDF LOCATION '{}/l2p/*.nc';",
                dir.display()
            ),
            format!(
                "CREATE EXTERNAL TABLE sst_monthly STORED AS NETCDF LOCATION '{}/sst_monthly/';",
                dir.display()
            ),
            format!(
                "CREATE EXTERNAL TABLE wind STORED AS ZARR LOCATION '{}/wind.zarr';",
                dir.display()
            ),
            format!(
                "CREATE EXTERNAL TABLE l2p_b STORED AS NETCDF LOCATION '{}/l2p_b/*.nc';",
                dir.display()
            ),
        ] {
            assert!(text.contains(&line), "{line} not in\n{text}");
        }

        // NetCDF: layout and CF attributes.
        let names: Vec<_> = fs::read_dir(dir.join("sst_nc"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3);
        let (f, raw) = read_nc_raw(&dir.join("sst_nc/sst_20230102.nc"));
        assert_eq!(f.dimension_len("time"), Some(1));
        assert_eq!(f.dimension_len("lat"), Some(180));
        assert_eq!(f.dimension_len("lon"), Some(360));
        let time = f
            .variable("time")
            .unwrap()
            .get_values::<f64, _>(..)
            .unwrap();
        assert_eq!(time, vec![15341.0]);
        let lat = f.variable("lat").unwrap().get_values::<f32, _>(..).unwrap();
        let lon = f.variable("lon").unwrap().get_values::<f32, _>(..).unwrap();
        assert_eq!((lat[0], lat[179]), (-89.5, 89.5));
        assert_eq!((lon[0], lon[359]), (0.5, 359.5));
        let sst = f.variable("sst").unwrap();
        assert_eq!(sst.chunking().unwrap(), Some(vec![1, 45, 90]));
        assert_eq!(sst.fill_value::<i16>().unwrap(), Some(FILL));
        let attr = |n: &str| sst.attribute_value(n).unwrap().unwrap();
        assert!(matches!(attr("scale_factor"), netcdf::AttributeValue::Double(x) if x == 0.01));
        assert!(matches!(attr("add_offset"), netcdf::AttributeValue::Double(x) if x == 0.0));
        assert!(matches!(attr("units"), netcdf::AttributeValue::Str(s) if s == "degree_Celsius"));
        // file column k is lon (k + 0.5): lon 10.5E is column 10, lon 150.5W is column 209.
        let at = |lat: f64, lon_0_360: f64| {
            raw[(lat + 89.5) as usize * 360 + (lon_0_360 - 0.5) as usize]
        };

        // Land is fill: Sahara, Paris area, Antarctica.
        assert_eq!(at(23.5, 10.5), FILL);
        assert_eq!(at(48.5, 2.5), FILL);
        assert_eq!(at(-80.5, 0.5), FILL);

        // An ocean cell by hand: 0.5N 150.5W (equatorial Pacific) on 2023-01-02 (t = 1).
        let t = 1.0f64;
        let eddies = model.eddies_at(t);
        assert!(
            eddies.iter().all(|e| e.term(0.5, -150.5) == 0.0),
            "an eddy is near the test point"
        );
        let x: f64 = 4.5 / 48.0;
        let zonal = -1.8 + 31.0 * (-x.powf(2.7)).exp();
        let s = (1.0f64).to_radians().sin();
        let seasonal = 4.0 * s * s * (2.0 * PI * (1.0 - 225.0) / 365.0).cos();
        let tongue = -2.5 * (-0.5 * (1.5f64 / 4.0).powi(2) - 0.5 * (40.5f64 / 30.0).powi(2)).exp();
        let blob_amp = 2.5 * (1.0f64 / 240.0).powi(2) * (3.0 - 2.0 / 240.0);
        assert_eq!(blob_amplitude(240.0), 2.5);
        let blob =
            blob_amp * (-0.5 * (52.0f64 / 6.0).powi(2) - 0.5 * (15.5f64 / 12.0).powi(2)).exp();
        let expected = zonal + seasonal + tongue + blob + cell_noise(90, 29, 1);
        assert!((27.0..30.0).contains(&expected), "{expected}");
        assert_eq!(at(0.5, 209.5), (expected * 100.0).round() as i16);

        // Every cell of every day equals the point-by-point formula (this checks the
        // eddy loop, the lon 0..360 reordering and the mask), in NetCDF and in Zarr.
        let store = Arc::new(FilesystemStore::new(dir.join("sst.zarr")).unwrap());
        let zsst = Array::open(store.clone(), "/sst").unwrap();
        let ztime = Array::open(store.clone(), "/time").unwrap();
        assert_eq!(
            ztime.retrieve_chunk::<Vec<i64>>(&[0]).unwrap(),
            vec![0, 1, 2]
        );
        let zlon = Array::open(store, "/lon")
            .unwrap()
            .retrieve_chunk::<Vec<f64>>(&[0])
            .unwrap();
        assert_eq!((zlon[0], zlon[359]), (-179.5, 179.5));
        for day in 0..3 {
            let (_, raw) = read_nc_raw(&dir.join(format!("sst_nc/sst_{}.nc", day_stamp(day))));
            let zraw = zsst
                .retrieve_array_subset::<Vec<i16>>(&[day as u64..day as u64 + 1, 0..180, 0..360])
                .unwrap();
            let mut ocean = 0;
            for i in 0..180 {
                for j in 0..360 {
                    let want = if is_land(spec.lat(i), spec.lon(j)) {
                        FILL
                    } else {
                        ocean += 1;
                        pack(model.cell_value(&spec, i, j, day))
                    };
                    assert_eq!(zraw[i * 360 + j], want, "zarr day {day} cell ({i}, {j})");
                    assert_eq!(
                        raw[i * 360 + (j + 180) % 360],
                        want,
                        "netcdf day {day} cell ({i}, {j})"
                    );
                }
            }
            assert_eq!(ocean, 180 * 360 - 22412);
        }
        // The eddies are there: some cell differs from base + noise by more than 1 °C.
        let day = 2;
        let eddy_cells = (0..180 * 360)
            .filter(|k| {
                let (i, j) = (k / 360, k % 360);
                !is_land(spec.lat(i), spec.lon(j))
                    && (model.cell_value(&spec, i, j, day)
                        - base(spec.lat(i), spec.lon(j), day as f64))
                    .abs()
                        > 1.0
            })
            .count();
        assert!(eddy_cells > 20, "{eddy_cells}");
    }

    #[test]
    fn drifters_parquet() {
        let tmp = TempDir::new("drifters");
        let spec = small();
        write_with(&tmp.0, &spec).unwrap();
        let model = Model::new(true);
        let file = fs::File::open(tmp.0.join("drifters.parquet")).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.collect::<std::result::Result<_, _>>().unwrap();
        let batch =
            datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(batch.num_rows(), 4 * 12 + 8);
        let id = batch.column(0).as_string::<i32>();
        let time = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        let lat = batch.column(2).as_primitive::<Float64Type>();
        let lon = batch.column(3).as_primitive::<Float64Type>();
        let sst = batch.column(4).as_primitive::<Float64Type>();
        assert_eq!(
            batch.schema().field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(id.value(0), "DRIFTER-0001");
        assert_eq!(id.value(batch.num_rows() - 1), "DRIFTER-0005");
        assert_eq!(time.value(0), EPOCH_2023_US);
        assert_eq!(time.value(1), EPOCH_2023_US + 6 * 3_600_000_000);
        let mut max_err: f64 = 0.0;
        for r in 0..batch.num_rows() {
            if r > 0 {
                assert!(
                    (id.value(r - 1), time.value(r - 1)) < (id.value(r), time.value(r)),
                    "sorted"
                );
            }
            let (la, lo) = (lat.value(r), lon.value(r));
            assert!(
                (-80.0..=80.0).contains(&la) && (-180.0..180.0).contains(&lo),
                "({la}, {lo})"
            );
            assert!(!is_land(la, lo), "drifter on land at ({la}, {lo})");
            let t = (time.value(r) - EPOCH_2023_US) as f64 / 86_400e6;
            let truth = model.smooth(la, lo, t, &model.eddies_at(t)).max(FREEZING);
            max_err = max_err.max((sst.value(r) - truth).abs());
            assert!(sst.is_valid(r));
        }
        assert!(max_err > 0.05 && max_err < 1.2, "noise {max_err}");
    }

    #[test]
    fn same_bytes_every_run() {
        let (a, b) = (TempDir::new("det-a"), TempDir::new("det-b"));
        write_with(&a.0, &small()).unwrap();
        write_with(&b.0, &small()).unwrap();
        for rel in [
            "sst_nc/sst_20230103.nc",
            "drifters.parquet",
            "sst.zarr/zarr.json",
            "sst.zarr/sst/zarr.json",
            "sst.zarr/sst/c/2/1/1",
            "sst_monthly/sst_monthly_2015.nc",
            "wind.zarr/msl/c/2/0/0",
        ] {
            assert_eq!(
                fs::read(a.0.join(rel)).unwrap(),
                fs::read(b.0.join(rel)).unwrap(),
                "{rel}"
            );
        }
    }

    /// The example queries plan and run on the demo tables, with `sst` stood in by an
    /// in-memory table of the grid columns.
    #[tokio::test]
    async fn example_queries_run() {
        let tmp = TempDir::new("queries");
        let spec = small();
        write_with(&tmp.0, &spec).unwrap();
        let model = Model::new(true);
        let ctx = oceanql_engine::create_context().unwrap();
        let tz = Some("UTC".into());
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, tz),
                false,
            ),
            Field::new("lat", DataType::Float64, false),
            Field::new("lon", DataType::Float64, false),
            Field::new("sst", DataType::Float64, true),
            Field::new("granule", DataType::Utf8, false),
            Field::new("time_index", DataType::Int64, false),
            Field::new("lat_index", DataType::Int64, false),
            Field::new("lon_index", DataType::Int64, false),
        ]));
        let mut batches = vec![];
        let grid = GridStatic::new(&spec);
        for day in 0..spec.days {
            let raw = model.day_raw(&spec, &grid, day);
            let n = raw.len();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        EPOCH_2023_US
                            + day as i64 * 86_400_000_000;
                        n
                    ])
                    .with_timezone("UTC"),
                ),
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|k| spec.lat(k / 360)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|k| spec.lon(k % 360)),
                )),
                Arc::new(Float64Array::from_iter(
                    raw.iter().map(|&r| (r != FILL).then_some(r as f64 * SCALE)),
                )),
                Arc::new(StringArray::from(vec![
                    format!("sst_{}.nc", day_stamp(day));
                    n
                ])),
                Arc::new(Int64Array::from(vec![0; n])),
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|k| (k / 360) as i64),
                )),
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|k| ((k % 360 + 180) % 360) as i64),
                )),
            ];
            batches.push(RecordBatch::try_new(schema.clone(), columns).unwrap());
        }
        ctx.register_table(
            "sst",
            Arc::new(MemTable::try_new(schema, vec![batches]).unwrap()),
        )
        .unwrap();
        let parquet = tmp.0.join("drifters.parquet");
        ctx.register_parquet(
            "drifters",
            parquet.to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        let monthly = sql_string(&tmp.0.join("sst_monthly"));
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE sst_monthly STORED AS NETCDF LOCATION {monthly}"
        ))
        .await
        .unwrap();

        let mut results = vec![];
        for (title, sql) in EXAMPLE_QUERIES {
            let rows = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            results.push(rows);
            assert!(!title.is_empty());
        }
        // The Blob: one month (January) with both regions present.
        let blob = &results[0];
        assert_eq!(blob.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        // Every drifter fix matches an ocean cell of its day.
        let matchups = &results[2][0];
        assert_eq!(
            matchups
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0),
            56
        );
        let std_diff = matchups.column(4).as_primitive::<Float64Type>().value(0);
        assert!(std_diff > 0.1 && std_diff < 1.0, "{std_diff}");
        // Niño 3.4 of 2014 and 2015 against their mean: El Niño 2015-16 against 2014.
        let enso = &results[3][0];
        assert_eq!(enso.num_rows(), 2);
        let warmest = enso.column(1).as_primitive::<Float64Type>();
        let coldest = enso.column(2).as_primitive::<Float64Type>();
        assert!(
            warmest.value(1) > 1.0 && coldest.value(0) < -1.0,
            "{enso:?}"
        );
    }

    /// Every value of a NetCDF variable as i16, and the file.
    fn read_i16(path: &Path, var: &str) -> Vec<i16> {
        let f = netcdf::open(path).unwrap();
        f.variable(var).unwrap().get_values::<i16, _>(..).unwrap()
    }

    #[test]
    fn monthly_files_match_the_model() {
        let tmp = TempDir::new("monthly");
        let spec = small();
        write_with(&tmp.0, &spec).unwrap();
        let path = tmp.0.join("sst_monthly/sst_monthly_2015.nc");
        let f = netcdf::open(&path).unwrap();
        assert_eq!(f.dimension_len("time"), Some(12));
        let time = f
            .variable("time")
            .unwrap()
            .get_values::<f64, _>(..)
            .unwrap();
        // 2015-01-01 and 2015-12-01 in days since 1981-01-01.
        assert_eq!((time[0], time[11]), (12418.0, 12752.0));
        let sst = f.variable("sst").unwrap();
        assert_eq!(sst.chunking().unwrap(), Some(vec![1, 45, 90]));
        assert!(matches!(
            sst.attribute_value("cell_methods").unwrap().unwrap(),
            netcdf::AttributeValue::Str(s) if s == "time: mean"
        ));
        let raw = read_i16(&path, "sst");
        let (nx, ny) = (360, 180);
        for month in 1..=12u32 {
            for i in 0..ny {
                for j in 0..nx {
                    let want = if is_land(spec.lat(i), spec.lon(j)) {
                        FILL
                    } else {
                        pack(monthly::monthly_cell(&spec, i, j, 2015, month))
                    };
                    let got = raw[(month as usize - 1) * nx * ny + i * nx + (j + 180) % 360];
                    assert_eq!(got, want, "2015-{month} cell ({i}, {j})");
                }
            }
        }
        // By hand, from the documented formulas: at 0.5N 150.5W (Niño 3.4) December 2015
        // minus December 2014 is the ENSO step + one year of trend, ± 0.2 of noise.
        let raw14 = read_i16(&tmp.0.join("sst_monthly/sst_monthly_2014.nc"), "sst");
        let cell = |raw: &[i16], month: usize, lat: f64, lon: f64| {
            let (i, j) = (
                (lat + 89.5) as usize,
                ((lon + 360.0) % 360.0 - 0.5) as usize,
            );
            raw[(month - 1) * nx * ny + i * nx + j] as f64 * SCALE
        };
        let enso_step = 2.6 - 2.6 * (-0.5f64 * (12.0f64 / 5.0).powi(2)).exp();
        let d = cell(&raw, 12, 0.5, -150.5) - cell(&raw14, 12, 0.5, -150.5);
        assert!((d - enso_step - 0.015).abs() < 0.21, "{d} vs {enso_step}");
        // The Blob at 52.5N 135.5W: January 2015 (2.5) minus January 2014 (2.5 s(3/8)),
        // times its shape there, exp(-½ (0.5/12)²).
        let x: f64 = 3.0 / 8.0;
        let blob_step =
            (2.5 - 2.5 * x * x * (3.0 - 2.0 * x)) * (-0.5f64 * (0.5f64 / 12.0).powi(2)).exp();
        let d = cell(&raw, 1, 52.5, -135.5) - cell(&raw14, 1, 52.5, -135.5);
        assert!((d - blob_step - 0.015).abs() < 0.21, "{d} vs {blob_step}");
    }

    #[test]
    fn storm_wake_in_the_daily_field() {
        let spec = small();
        let grid = GridStatic::new(&spec);
        let (storm, calm) = (Model::new(true), Model::new(false));
        for day in [237, 241, 256] {
            let raw = storm.day_raw(&spec, &grid, day);
            let before = calm.day_raw(&spec, &grid, day);
            let mut changed = 0;
            for i in 0..180 {
                for j in 0..360 {
                    let k = i * 360 + j;
                    if grid.ocean[k] {
                        assert_eq!(
                            raw[k],
                            pack(storm.cell_value(&spec, i, j, day)),
                            "day {day} ({i}, {j})"
                        );
                    }
                    if raw[k] != before[k] {
                        changed += 1;
                        let (lat, lon) = (spec.lat(i), spec.lon(j));
                        assert!(
                            (14.0..39.0).contains(&lat) && (-95.0..-70.0).contains(&lon),
                            "{lat} {lon}"
                        );
                        assert!(raw[k] < before[k]);
                    }
                }
            }
            match day {
                237 => assert_eq!(changed, 0),
                _ => assert!(changed > 30, "day {day}: {changed} cells"),
            }
        }
        // Eastern Gulf (27.5N 84.5W): 2.5-3 °C colder on 2023-08-31, e^-1 of that 15 days on.
        let (i, j) = (117, 95);
        let drop = |day: usize| {
            let t = day as f64;
            storm.smooth(spec.lat(i), spec.lon(j), t, &storm.eddies_at(t))
                - calm.smooth(spec.lat(i), spec.lon(j), t, &calm.eddies_at(t))
        };
        assert!(drop(242) < -2.5 && drop(242) > -3.0, "{}", drop(242));
        assert!((drop(257) / drop(242) - (-1.0f64).exp()).abs() < 1e-9);
    }

    /// The wake's closest approach by brute force: the track sampled every 1/1000 of a
    /// segment, distances as documented.
    #[test]
    fn wake_passage_matches_brute_force() {
        let track = storm::TRACK;
        for lat in (160..380).step_by(7).map(|x| x as f64 / 10.0) {
            for lon in (-920..-720).step_by(9).map(|x| x as f64 / 10.0) {
                let coslat = lat.to_radians().cos();
                let mut best = (f64::INFINITY, 0.0, 0.0);
                for k in 0..track.len() - 1 {
                    for n in 0..=1000 {
                        let f = n as f64 / 1000.0;
                        let (pl, po) = (
                            track[k].0 + f * (track[k + 1].0 - track[k].0),
                            track[k].1 + f * (track[k + 1].1 - track[k].1),
                        );
                        let d = ((lat - pl).powi(2) + ((lon - po) * coslat).powi(2)).sqrt();
                        if d < best.0 {
                            let wind = track[k].2 + f * (track[k + 1].2 - track[k].2);
                            best = (d, storm::TRACK_START_DAY + (k as f64 + f) / 4.0, wind);
                        }
                    }
                }
                let (d, t_pass, wind) = best;
                match storm::wake_passage(lat, lon) {
                    None => assert!(d > 5.99, "({lat}, {lon}) at {d}°"),
                    Some((amp, t)) => {
                        let want = -3.0 * wind / 57.0 * (-0.5 * (d / 1.5).powi(2)).exp();
                        assert!((amp - want).abs() < 2e-3, "({lat}, {lon}): {amp} vs {want}");
                        // At a corner of the track two times are as close: compare where it is not.
                        if (amp - want).abs() < 1e-4 && d > 0.05 {
                            assert!(
                                (t - t_pass).abs() < 0.02 || d > 2.0,
                                "({lat}, {lon}): {t} vs {t_pass}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn wind_store_matches_the_model() {
        let tmp = TempDir::new("wind");
        let spec = small();
        write_with(&tmp.0, &spec).unwrap();
        let store = Arc::new(FilesystemStore::new(tmp.0.join("wind.zarr")).unwrap());
        let ws = Array::open(store.clone(), "/wind_speed").unwrap();
        let msl = Array::open(store.clone(), "/msl").unwrap();
        let attrs = msl.attributes();
        assert_eq!(attrs["units"], "hPa");
        assert_eq!(attrs["scale_factor"], 0.1);
        assert_eq!(attrs["add_offset"], 1000.0);
        assert_eq!(ws.attributes()["standard_name"], "wind_speed");
        assert_eq!(ws.chunk_grid_shape(), &[3, 1, 1]);
        for day in 0..3u64 {
            let w = ws
                .retrieve_array_subset::<Vec<i16>>(&[day..day + 1, 0..180, 0..360])
                .unwrap();
            let p = msl
                .retrieve_array_subset::<Vec<i16>>(&[day..day + 1, 0..180, 0..360])
                .unwrap();
            for k in 0..180 * 360 {
                let want = storm::wind_point(&spec, k / 360, k % 360, day as usize);
                assert_eq!((w[k], p[k]), want, "day {day} cell {k}");
            }
        }
        // The storm, computed for its days: calm before, ~60 m/s and 942 hPa at its peak.
        let (w, p) = storm::wind_day(&spec, 237);
        assert!(w.iter().all(|&x| (x as f64) * 0.01 < 20.0));
        assert!(p.iter().all(|&x| (x as f64) * 0.1 + 1000.0 > 975.0));
        let (w, p) = storm::wind_day(&spec, 241);
        for k in [0, 12345, 64799] {
            assert_eq!(
                (w[k], p[k]),
                storm::wind_point(&spec, k / 360, k % 360, 241)
            );
        }
        let max = (0..w.len()).max_by_key(|&k| w[k]).unwrap();
        let min = (0..p.len()).min_by_key(|&k| p[k]).unwrap();
        let (lat, lon) = (spec.lat(max / 360), spec.lon(max % 360));
        assert!(
            (lat - 28.4).abs() < 1.5 && (lon + 84.0).abs() < 1.5,
            "{lat} {lon}"
        );
        assert!((55.0..66.0).contains(&(w[max] as f64 * 0.01)), "{}", w[max]);
        assert_eq!((spec.lat(min / 360), spec.lon(min % 360)), (28.5, -84.5));
        let centre = p[min] as f64 * 0.1 + 1000.0;
        assert!((942.0..950.0).contains(&centre), "{centre}");
    }

    #[test]
    fn l2p_b_crosses_l2p_with_a_bias() {
        let tmp = TempDir::new("l2pb");
        write_with(&tmp.0, &small()).unwrap();
        let names = |dir: &str| {
            let mut v: Vec<PathBuf> = fs::read_dir(tmp.0.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            v
        };
        let (a_files, b_files) = (names("l2p"), names("l2p_b"));
        assert_eq!(b_files.len(), 3);
        // (time of line 0 in seconds, lat, lon, sst K, quality) of a granule.
        let read = |path: &Path| {
            let f = netcdf::open(path).unwrap();
            let t0 = f
                .variable("time")
                .unwrap()
                .get_values::<i32, _>(..)
                .unwrap()[0];
            let get = |v: &str| f.variable(v).unwrap().get_values::<f32, _>(..).unwrap();
            let sst = read_i16(path, "sea_surface_temperature");
            let q = f
                .variable("quality_level")
                .unwrap()
                .get_values::<i8, _>(..)
                .unwrap();
            (t0, get("lat"), get("lon"), sst, q)
        };
        let mut diffs = vec![];
        for b in &b_files {
            let name = b.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.contains("-OCEANQL-L2P_GHRSST-SSTskin-DEMO_B_"),
                "{name}"
            );
            let at = name.find("DEMO_B_").unwrap() + 7;
            let k: usize = name[at..at + 2].parse().unwrap();
            let a = a_files
                .iter()
                .find(|p| p.to_string_lossy().contains(&format!("DEMO_{k:02}-")))
                .unwrap();
            let (ta, alat, alon, asst, aq) = read(a);
            let (tb, blat, blon, bsst, bq) = read(b);
            assert_eq!(blat.len(), 240 * 160);
            assert!((tb - ta).abs() < 3 * 3600 + 300, "{name}: {tb} vs {ta}");
            // Pixels of A by 0.01° cell; a B pixel's match is the nearest A pixel within 1 km.
            let key = |la: f32, lo: f32| ((la * 100.0).floor() as i32, (lo * 100.0).floor() as i32);
            let mut cells: std::collections::HashMap<(i32, i32), Vec<usize>> = Default::default();
            for n in 0..alat.len() {
                cells.entry(key(alat[n], alon[n])).or_default().push(n);
            }
            let mut pairs = 0;
            for m in 0..blat.len() {
                let (y, x) = key(blat[m], blon[m]);
                let coslat = (blat[m] as f64).to_radians().cos();
                let near = (-1..=1)
                    .flat_map(|dy| (-2..=2).map(move |dx| (y + dy, x + dx)))
                    .filter_map(|c| cells.get(&c))
                    .flatten()
                    .map(|&n| {
                        let dy = (alat[n] - blat[m]) as f64;
                        let dx = (alon[n] - blon[m]) as f64 * coslat;
                        (n, (dx * dx + dy * dy).sqrt() * KM_PER_DEGREE)
                    })
                    .filter(|&(_, d)| d <= 1.0)
                    .min_by(|p, q| p.1.total_cmp(&q.1));
                if let Some((n, _)) = near {
                    pairs += 1;
                    if aq[n] >= 4 && bq[m] >= 4 && asst[n] != FILL && bsst[m] != FILL {
                        diffs.push((bsst[m] - asst[n]) as f64 * SCALE);
                    }
                }
            }
            assert!(pairs > 1000, "{name}: {pairs} pixels overlap");
        }
        let n = diffs.len() as f64;
        let mean = diffs.iter().sum::<f64>() / n;
        let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
        // B - A = 0.15 K + noise of sd ~ sqrt(0.3² + 0.25²) ~ 0.4.
        assert!(
            (mean - 0.15).abs() < 4.0 * sd / n.sqrt() + 0.01,
            "{mean} ± {sd} over {n}"
        );
        assert!((0.3..0.6).contains(&sd), "{sd}");
    }
}
