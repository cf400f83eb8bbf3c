//! `sst_monthly/sst_monthly_YYYY.nc`: monthly mean SST 1991-2023 (climatology, trend,
//! ENSO, the 2014-2015 Blob), one NetCDF file of 12 months per year.

use std::f64::consts::PI;
use std::fs;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use datafusion::error::Result;

use super::{
    FILL, FREEZING, GridStatic, NH_PEAK_DAY, NcGrid, SEED, Spec, cell_hash, fail, pack, pipeline,
    seasonal_amplitude, unit, wrap_lon, write_grid_netcdf, zonal,
};
#[cfg(test)]
use super::{blob_shape, cold_tongue};

pub(super) const FIRST_YEAR: i32 = 1991;
pub(super) const LAST_YEAR: i32 = 2023;

/// The synthetic ENSO history, shaped like the real one (Oceanic Niño Index):
/// (year, month of the peak, amplitude °C, e-folding width in months). The index is
/// the sum of one Gaussian bump per event (see [`enso`]).
pub(super) const ENSO_EVENTS: [(i32, u32, f64, f64); 18] = [
    (1992, 1, 1.7, 4.0),   // El Niño 1991-92
    (1994, 12, 1.0, 3.5),  // El Niño 1994-95 (weak)
    (1995, 12, -0.9, 3.0), // La Niña 1995-96 (weak)
    (1997, 12, 2.4, 4.0),  // El Niño 1997-98 (strong)
    (1998, 12, -1.5, 4.0), // La Niña 1998-2001
    (1999, 12, -1.5, 4.0),
    (2000, 12, -0.9, 3.0),
    (2002, 11, 1.3, 3.5),  // El Niño 2002-03
    (2008, 1, -1.6, 3.5),  // La Niña 2007-08
    (2009, 12, 1.6, 3.5),  // El Niño 2009-10
    (2010, 12, -1.6, 4.0), // La Niña 2010-12
    (2011, 12, -1.0, 3.0),
    (2015, 12, 2.6, 5.0),  // El Niño 2015-16 (strong)
    (2019, 1, 0.9, 3.5),   // El Niño 2018-19 (weak)
    (2020, 11, -1.2, 3.5), // La Niña 2020-23 (triple dip)
    (2021, 12, -1.0, 3.0),
    (2022, 11, -1.0, 3.5),
    (2023, 12, 1.8, 5.0), // El Niño 2023-24, onset mid-2023
];

/// Warming trend, °C per year.
const TREND_PER_YEAR: f64 = 0.015;
/// The 2014-2015 Blob's amplitude (°C) on its plateau.
const BLOB_2014_C: f64 = 2.5;
/// Months (index from 1991-01) where the 2014 Blob starts to grow, reaches its plateau,
/// leaves it and is gone: 2013-10, 2014-06, 2015-09, 2016-06.
const BLOB_2014_MONTHS: [f64; 4] = [273.0, 281.0, 296.0, 305.0];
/// Noise seed of the monthly field (high bits: apart from the daily noise).
const MONTHLY_SEED: u64 = SEED ^ (0xA3 << 56);

/// Months since 1991-01 of (year, month 1..=12).
pub(super) fn month_index(year: i32, month: u32) -> f64 {
    ((year - FIRST_YEAR) * 12 + month as i32 - 1) as f64
}

/// The ENSO index (°C) of month `m` (index from 1991-01): Σ A exp(-½ ((m - m_peak)/w)²).
pub(super) fn enso(m: f64) -> f64 {
    ENSO_EVENTS
        .iter()
        .map(|&(y, mo, a, w)| {
            let z = (m - month_index(y, mo)) / w;
            a * (-0.5 * z * z).exp()
        })
        .sum()
}

/// Where ENSO shows (1 over the Niño 3.4 box, 5S-5N 170W-120W): exp(-(φ/12)⁴) times 1
/// within 25° of lon 145W, decaying as a Gaussian of width 20° to the west and 30° to
/// the east of that.
pub(super) fn enso_pattern(lat: f64, lon: f64) -> f64 {
    let d = wrap_lon(lon + 145.0);
    let across = if d < -25.0 {
        let z = (d + 25.0) / 20.0;
        (-0.5 * z * z).exp()
    } else if d > 25.0 {
        let z = (d - 25.0) / 30.0;
        (-0.5 * z * z).exp()
    } else {
        1.0
    };
    (-(lat / 12.0).powi(4)).exp() * across
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Amplitude (°C) of the 2014-2015 Blob in month `m`: smoothstep up from 2013-10 to
/// 2014-06, 2.5 until 2015-09, smoothstep down to 0 by 2016-06.
pub(super) fn blob_2014(m: f64) -> f64 {
    let [a, b, c, d] = BLOB_2014_MONTHS;
    if m <= a || m >= d {
        0.0
    } else if m < b {
        BLOB_2014_C * smoothstep((m - a) / (b - a))
    } else if m <= c {
        BLOB_2014_C
    } else {
        BLOB_2014_C * smoothstep((d - m) / (d - c))
    }
}

/// The warming trend (°C) of month `m`: 0.015 (m - 389.5) / 12, zero on average over 2023.
pub(super) fn trend(m: f64) -> f64 {
    TREND_PER_YEAR * (m - 389.5) / 12.0
}

/// The mean over the days of the month of the daily model's seasonal phase
/// cos(2π (d - 225) / 365), d = day of the year from 0 (Jan 1 = 0) in that year.
pub(super) fn seasonal_factor(year: i32, month: u32) -> f64 {
    let first = first_day(year, month);
    let next = if month == 12 {
        first_day(year + 1, 1)
    } else {
        first_day(year, month + 1)
    };
    let d0 = first.ordinal0() as i64;
    let n = (next - first).num_days();
    let sum: f64 = (d0..d0 + n)
        .map(|d| (2.0 * PI * (d as f64 - NH_PEAK_DAY) / 365.0).cos())
        .sum();
    sum / n as f64
}

fn first_day(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default()
}

/// Uniform noise in [-0.1, 0.1] °C for cell (i, j) in month `m`.
fn monthly_noise(i: usize, j: usize, m: usize) -> f64 {
    (unit(cell_hash(MONTHLY_SEED, i, j, m)) - 0.5) * 0.2
}

/// The terms of one month that do not depend on the place.
struct MonthTerms {
    m: usize,
    seasonal: f64,
    trend: f64,
    enso: f64,
    blob: f64,
}

impl MonthTerms {
    fn new(year: i32, month: u32) -> Self {
        let m = month_index(year, month);
        MonthTerms {
            m: m as usize,
            seasonal: seasonal_factor(year, month),
            trend: trend(m),
            enso: enso(m),
            blob: blob_2014(m),
        }
    }

    /// The value (°C, before the freezing floor and packing) from the place's terms.
    fn value(&self, row: f64, tongue: f64, pattern: f64, blob: f64, noise: f64) -> f64 {
        row + tongue + self.trend + self.enso * pattern + self.blob * blob + noise
    }
}

/// The monthly mean (°C) of ocean cell (i, j) in (year, month), computed on its own.
#[cfg(test)]
pub(super) fn monthly_cell(spec: &Spec, i: usize, j: usize, year: i32, month: u32) -> f64 {
    let (lat, lon) = (spec.lat(i), spec.lon(j));
    let mt = MonthTerms::new(year, month);
    let row = zonal(lat) + seasonal_amplitude(lat) * mt.seasonal;
    let v = mt.value(
        row,
        cold_tongue(lat, lon),
        enso_pattern(lat, lon),
        blob_shape(lat, lon),
        monthly_noise(i, j, mt.m),
    );
    v.max(FREEZING)
}

/// Packed values of the 12 months of `year`: (month, lat, lon) row-major, lon from -180.
fn year_raw(spec: &Spec, grid: &GridStatic, pattern: &[f64], year: i32) -> Vec<i16> {
    let (nx, ny) = (spec.nx(), spec.ny());
    let mut out = Vec::with_capacity(12 * nx * ny);
    for month in 1..=12 {
        let mt = MonthTerms::new(year, month);
        for i in 0..ny {
            let lat = spec.lat(i);
            let row = zonal(lat) + seasonal_amplitude(lat) * mt.seasonal;
            for j in 0..nx {
                let k = i * nx + j;
                out.push(if grid.ocean[k] {
                    let noise = monthly_noise(i, j, mt.m);
                    let v = mt.value(row, grid.tongue[k], pattern[k], grid.blob[k], noise);
                    pack(v.max(FREEZING))
                } else {
                    FILL
                });
            }
        }
    }
    out
}

/// Days since 1981-01-01 of the first day of each month of `year`.
fn month_starts(year: i32) -> Vec<f64> {
    let epoch = first_day(1981, 1);
    (1..=12)
        .map(|m| (first_day(year, m) - epoch).num_days() as f64)
        .collect()
}

/// Writes `DIR/sst_monthly/sst_monthly_YYYY.nc` for `years`.
pub(super) fn write_monthly(dir: &Path, spec: &Spec, years: (i32, i32)) -> Result<()> {
    let out = dir.join("sst_monthly");
    fs::create_dir_all(&out).map_err(|e| fail("creating directory", &out, e))?;
    let grid = GridStatic::new(spec);
    let nx = spec.nx();
    let pattern: Vec<f64> = (0..spec.ny() * nx)
        .map(|k| enso_pattern(spec.lat(k / nx), spec.lon(k % nx)))
        .collect();
    let n = (years.1 - years.0 + 1).max(0) as usize;
    let year = |k: usize| years.0 + k as i32;
    let compute = |k: usize| Ok(year_raw(spec, &grid, &pattern, year(k)));
    let mut buf = Vec::new();
    pipeline(n, &compute, |k, raw: Vec<i16>| {
        let y = year(k);
        let text = NcGrid {
            title: "OceanQL synthetic demo: monthly mean global sea surface temperature 1991-2023 (L4-like)",
            comment: "Synthetic data, NOT real observations: latitude profile, seasonal cycle, equatorial cold \
                      tongue, a warming trend of 0.015 degC/yr, a synthetic ENSO history, the 2014-2015 \
                      North-East Pacific warm anomaly and small noise. Land from the NCAR 1x1 land/sea mask.",
            time_long_name: "start of the month (the value is the mean over the month)",
            sst_long_name: "monthly mean sea surface foundation temperature",
            cell_methods: Some("time: mean"),
            coverage: (
                format!("{y}-01-01T00:00:00Z"),
                format!("{y}-12-31T23:59:59Z"),
            ),
            times: month_starts(y),
        };
        let path = out.join(format!("sst_monthly_{y}.nc"));
        write_grid_netcdf(&path, spec, &text, &raw, &mut buf)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enso_history_has_the_documented_events() {
        let at = |y, m| enso(month_index(y, m));
        assert!((at(1997, 12) - 2.4).abs() < 0.05, "{}", at(1997, 12));
        assert!((at(2015, 12) - 2.6).abs() < 0.02, "{}", at(2015, 12));
        assert!((at(2023, 12) - 1.8).abs() < 0.02, "{}", at(2023, 12));
        assert!((at(1992, 1) - 1.7).abs() < 0.05);
        assert!(
            at(2023, 6) > 0.5 && at(2023, 1) < -0.5,
            "{} {}",
            at(2023, 6),
            at(2023, 1)
        );
        assert!(at(1999, 12) < -1.5 && at(2010, 12) < -1.5);
        for y in [2020, 2021, 2022] {
            let min = (1..=12).map(|m| at(y, m)).fold(f64::INFINITY, f64::min);
            assert!(min < -0.9, "triple dip {y}: {min}");
        }
        // The strongest month of the record is 2015-12, the weakest in 1999-2000 or 2010-11.
        let all: Vec<(f64, f64)> = (0..396).map(|m| (m as f64, enso(m as f64))).collect();
        let max = all
            .iter()
            .copied()
            .fold((0.0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
        assert_eq!(max.0, month_index(2015, 12));
        // Niño 3.4 box is 1 (to 4 %); little in the Atlantic and the western Pacific warm pool.
        assert_eq!(enso_pattern(0.0, -150.0), 1.0);
        assert!(enso_pattern(5.0, -170.0) > 0.96 && enso_pattern(-5.0, -120.0) > 0.96);
        assert!(enso_pattern(0.0, -30.0) < 0.02 && enso_pattern(30.0, -150.0) < 1e-6);
        assert!(enso_pattern(0.0, 140.0) < 0.2);
    }

    #[test]
    fn blob_trend_and_seasonal_factor() {
        assert_eq!(blob_2014(month_index(2013, 10)), 0.0);
        assert_eq!(blob_2014(month_index(2015, 1)), 2.5);
        assert_eq!(blob_2014(month_index(2016, 6)), 0.0);
        assert!((blob_2014(month_index(2014, 2)) - 1.25).abs() < 1e-12); // halfway up
        assert_eq!(trend(month_index(2023, 6) + 0.5), 0.0);
        assert!((trend(month_index(1991, 1)) + 0.015 * 32.5 - 0.015 / 24.0).abs() < 1e-12);
        // January 2023: mean of cos(2π (d - 225)/365) for d = 0..30, by hand below.
        let want: f64 = (0..31)
            .map(|d| (2.0 * PI * (d as f64 - 225.0) / 365.0).cos())
            .sum::<f64>()
            / 31.0;
        assert!((seasonal_factor(2023, 1) - want).abs() < 1e-15);
        // In a leap year March starts on day 60.
        let want: f64 = (60..91)
            .map(|d| (2.0 * PI * (d as f64 - 225.0) / 365.0).cos())
            .sum::<f64>()
            / 31.0;
        assert!((seasonal_factor(2020, 3) - want).abs() < 1e-15);
        assert_eq!(month_starts(1991)[0], 3652.0); // 1991-01-01 is 3652 days after 1981-01-01
    }
}
