//! The demo hurricane (late August 2023): its track, its cold wake in the SST field
//! and the daily `wind.zarr` product (10 m wind speed, mean sea level pressure).

use std::path::Path;

use datafusion::error::Result;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

use super::{SEED, Spec, ZarrVar, cell_hash, create_zarr, store_zarr_day, unit, wrap_lon};

/// Day (since 2023-01-01T00:00Z) of the first track point, 2023-08-27T00:00Z.
pub(super) const TRACK_START_DAY: f64 = 238.0;
/// Track points are 6 hours apart.
const TRACK_STEP_DAYS: f64 = 0.25;

/// The 6-hourly track from 2023-08-27T00:00Z to 2023-08-31T12:00Z: (lat °N, lon °E,
/// maximum sustained wind m/s, central pressure hPa). Idalia-like: from the Yucatán
/// Channel north through the eastern Gulf of Mexico, landfall in Florida's Big Bend
/// on 2023-08-30 near 12Z, then north-east over Georgia and out to the Atlantic.
pub(super) const TRACK: [(f64, f64, f64, f64); 19] = [
    (20.0, -86.0, 15.0, 1004.0), // 08-27 00Z
    (20.2, -85.8, 16.0, 1003.0),
    (20.5, -85.6, 18.0, 1002.0),
    (20.9, -85.4, 20.0, 1000.0),
    (21.4, -85.3, 23.0, 996.0), // 08-28 00Z
    (22.0, -85.2, 27.0, 992.0),
    (22.7, -85.1, 31.0, 987.0),
    (23.5, -85.0, 35.0, 982.0),
    (24.4, -84.9, 40.0, 976.0), // 08-29 00Z
    (25.4, -84.8, 45.0, 968.0),
    (26.4, -84.6, 50.0, 960.0),
    (27.4, -84.3, 55.0, 950.0),
    (28.4, -84.0, 57.0, 942.0), // 08-30 00Z, peak
    (29.3, -83.6, 55.0, 946.0),
    (30.2, -83.1, 45.0, 960.0),
    (31.1, -82.3, 35.0, 975.0),
    (31.9, -81.2, 30.0, 983.0), // 08-31 00Z
    (32.5, -79.8, 28.0, 987.0),
    (32.9, -78.2, 27.0, 989.0),
];
/// The track's highest maximum wind (m/s): the wake is `WAKE_MAX_C` deep there.
const PEAK_WIND: f64 = 57.0;
/// Depth (°C) of the cold wake where the storm passed at `PEAK_WIND`.
const WAKE_MAX_C: f64 = 3.0;
/// e-folding radius of the wake across the track (degrees).
const WAKE_RADIUS: f64 = 1.5;
/// e-folding time of the wake's recovery (days).
const WAKE_RECOVERY_DAYS: f64 = 15.0;
/// Beyond this many radii from the track the wake is exactly 0 (and so are the vortex
/// terms beyond `VORTEX_CUTOFF` and `LOW_CUTOFF` degrees from the centre).
const WAKE_CUTOFF: f64 = 4.0;
/// Radius of maximum wind (degrees).
const RMW: f64 = 0.75;
const VORTEX_CUTOFF: f64 = 10.0;
/// e-folding radius of the pressure low (degrees).
const LOW_RADIUS: f64 = 1.5;
const LOW_CUTOFF: f64 = 6.0;
const WIND_SCALE: f64 = 0.01;
const MSL_SCALE: f64 = 0.1;
const MSL_OFFSET: f64 = 1000.0;
const WIND_FILL: i16 = -32768;

/// The storm at one time: the track interpolated linearly between its points.
#[derive(Debug, Clone, Copy)]
pub(super) struct StormAt {
    pub lat: f64,
    pub lon: f64,
    pub wind: f64,
    pub pressure: f64,
    coslat: f64,
}

/// The storm at `t` (days since 2023-01-01), `None` before the first and after the
/// last track point.
pub(super) fn storm_at(t: f64) -> Option<StormAt> {
    let x = (t - TRACK_START_DAY) / TRACK_STEP_DAYS;
    let last = (TRACK.len() - 1) as f64;
    if !(0.0..=last).contains(&x) {
        return None;
    }
    let k = (x.floor() as usize).min(TRACK.len() - 2);
    let f = x - k as f64;
    let (a, b) = (TRACK[k], TRACK[k + 1]);
    let lerp = |p: f64, q: f64| p + f * (q - p);
    let lat = lerp(a.0, b.0);
    Some(StormAt {
        lat,
        lon: lerp(a.1, b.1),
        wind: lerp(a.2, b.2),
        pressure: lerp(a.3, b.3),
        coslat: lat.to_radians().cos(),
    })
}

/// Where and when the storm passed a point: the wake's amplitude there (°C, ≤ 0) and
/// the time of closest approach (days), or `None` beyond `WAKE_CUTOFF` radii.
///
/// Closest approach: over the track's straight segments, in degrees with longitude
/// differences times cos(lat of the point); the first segment wins a tie.
pub(super) fn wake_passage(lat: f64, lon: f64) -> Option<(f64, f64)> {
    let reach = WAKE_CUTOFF * WAKE_RADIUS;
    if lat < 20.0 - reach || lat > 32.9 + reach {
        return None;
    }
    let coslat = lat.to_radians().cos();
    let mut best = (f64::INFINITY, 0, 0.0);
    for (k, seg) in TRACK.windows(2).enumerate() {
        let (ax, ay) = (wrap_lon(lon - seg[0].1) * coslat, lat - seg[0].0);
        let (bx, by) = (wrap_lon(seg[1].1 - seg[0].1) * coslat, seg[1].0 - seg[0].0);
        let s = ((ax * bx + ay * by) / (bx * bx + by * by)).clamp(0.0, 1.0);
        let (dx, dy) = (ax - s * bx, ay - s * by);
        let d2 = dx * dx + dy * dy;
        if d2 < best.0 {
            best = (d2, k, s);
        }
    }
    let (d2, k, s) = best;
    let r2 = d2 / (WAKE_RADIUS * WAKE_RADIUS);
    if r2 >= WAKE_CUTOFF * WAKE_CUTOFF {
        return None;
    }
    let wind = TRACK[k].2 + s * (TRACK[k + 1].2 - TRACK[k].2);
    let amp = -WAKE_MAX_C * wind / PEAK_WIND * (-0.5 * r2).exp();
    let t_pass = TRACK_START_DAY + (k as f64 + s) * TRACK_STEP_DAYS;
    Some((amp, t_pass))
}

/// The wake at time `t` of a point with [`wake_passage`] `(amp, t_pass)`.
pub(super) fn wake_term(amp: f64, t_pass: f64, t: f64) -> f64 {
    if t >= t_pass {
        amp * (-(t - t_pass) / WAKE_RECOVERY_DAYS).exp()
    } else {
        0.0
    }
}

/// The cold wake (°C) at a point and time: 0 before the storm passes and far from it.
pub(super) fn wake(lat: f64, lon: f64, t: f64) -> f64 {
    if t < TRACK_START_DAY {
        return 0.0;
    }
    match wake_passage(lat, lon) {
        Some((amp, t_pass)) => wake_term(amp, t_pass, t),
        None => 0.0,
    }
}

// ---------------------------------------------------------------------------------
// Wind and pressure
// ---------------------------------------------------------------------------------

fn bump(x: f64, centre: f64, width: f64) -> f64 {
    let z = (x - centre) / width;
    (-0.5 * z * z).exp()
}

/// Northern-winter phase of the seasonal cycle: 1 in mid-January (day 15), -1 in
/// mid-July; `-` of it in the south.
fn winter(lat: f64, t: f64) -> f64 {
    let c = (2.0 * std::f64::consts::PI * (t - 15.0) / 365.0).cos();
    if lat >= 0.0 { c } else { -c }
}

/// Background 10 m wind speed (m/s): doldrums, trades at 15°, westerlies at 50°
/// (stronger in the south and in winter).
pub(super) fn wind_background(lat: f64, t: f64) -> f64 {
    let a = lat.abs();
    let westerlies = if lat >= 0.0 { 6.0 } else { 8.0 };
    3.5 + 4.0 * bump(a, 15.0, 7.0) + westerlies * (1.0 + 0.3 * winter(lat, t)) * bump(a, 50.0, 10.0)
}

/// Background mean sea level pressure (hPa): equatorial trough, subtropical highs at
/// 30°, subpolar lows at 60° (deeper in the south and in winter).
pub(super) fn msl_background(lat: f64, t: f64) -> f64 {
    let a = lat.abs();
    let low = if lat >= 0.0 { 10.0 } else { 22.0 };
    1012.0 - 4.0 * bump(lat, 5.0, 6.0) + 7.0 * bump(a, 30.0, 8.0)
        - low * (1.0 + 0.3 * winter(lat, t)) * bump(a, 60.0, 8.0)
}

/// Distance (degrees) from the storm centre, longitude differences times cos(lat of the centre).
fn distance(s: &StormAt, lat: f64, lon: f64) -> f64 {
    let dy = lat - s.lat;
    let dx = wrap_lon(lon - s.lon) * s.coslat;
    (dx * dx + dy * dy).sqrt()
}

/// The vortex's wind (m/s) at distance `r` degrees: `wind (r/RMW) exp(1 - r/RMW)`.
fn vortex(s: &StormAt, r: f64) -> f64 {
    if r < VORTEX_CUTOFF {
        s.wind * (r / RMW) * (1.0 - r / RMW).exp()
    } else {
        0.0
    }
}

/// Weight of the storm's central pressure at distance `r`: `exp(-½ (r/LOW_RADIUS)²)`.
fn low_weight(r: f64) -> f64 {
    if r < LOW_CUTOFF {
        bump(r, 0.0, LOW_RADIUS)
    } else {
        0.0
    }
}

/// Noise of wind (uniform ±0.5 m/s) and pressure (uniform ±0.3 hPa) in cell (i, j) on `day`.
fn wind_noise(i: usize, j: usize, day: usize) -> (f64, f64) {
    let h = cell_hash(SEED ^ (0xA1 << 56), i, j, day);
    let h2 = cell_hash(SEED ^ (0xA2 << 56), i, j, day);
    ((unit(h) - 0.5) * 1.0, (unit(h2) - 0.5) * 0.6)
}

/// Wind speed and pressure of cell (i, j) on `day` (at 00:00 UTC), given the row's
/// backgrounds and the storm, packed.
fn wind_cell(
    (ws_bg, msl_bg): (f64, f64),
    (lat, lon): (f64, f64),
    storm: Option<&StormAt>,
    (i, j, day): (usize, usize, usize),
) -> (i16, i16) {
    let (mut ws, mut msl) = (ws_bg, msl_bg);
    if let Some(s) = storm {
        let r = distance(s, lat, lon);
        ws += vortex(s, r);
        msl += (s.pressure - msl_bg) * low_weight(r);
    }
    let (nw, np) = wind_noise(i, j, day);
    (
        pack(ws + nw, WIND_SCALE, 0.0),
        pack(msl + np, MSL_SCALE, MSL_OFFSET),
    )
}

fn pack(x: f64, scale: f64, offset: f64) -> i16 {
    ((x - offset) / scale).round().clamp(-32767.0, 32767.0) as i16
}

/// Packed (wind_speed, msl) of one day, row-major (lat, lon), lon from -180.
pub(super) fn wind_day(spec: &Spec, day: usize) -> (Vec<i16>, Vec<i16>) {
    let (nx, ny) = (spec.nx(), spec.ny());
    let t = day as f64;
    let storm = storm_at(t);
    let (mut ws, mut msl) = (Vec::with_capacity(nx * ny), Vec::with_capacity(nx * ny));
    for i in 0..ny {
        let lat = spec.lat(i);
        let bg = (wind_background(lat, t), msl_background(lat, t));
        for j in 0..nx {
            let (w, p) = wind_cell(bg, (lat, spec.lon(j)), storm.as_ref(), (i, j, day));
            ws.push(w);
            msl.push(p);
        }
    }
    (ws, msl)
}

/// The packed (wind_speed, msl) of one cell, computed on its own (for tests).
#[cfg(test)]
pub(super) fn wind_point(spec: &Spec, i: usize, j: usize, day: usize) -> (i16, i16) {
    let (t, lat) = (day as f64, spec.lat(i));
    let bg = (wind_background(lat, t), msl_background(lat, t));
    wind_cell(bg, (lat, spec.lon(j)), storm_at(t).as_ref(), (i, j, day))
}

/// Creates `wind.zarr` and returns its (wind_speed, msl) arrays.
pub(super) fn create_wind_zarr(path: &Path, spec: &Spec) -> Result<Vec<Array<FilesystemStore>>> {
    let title = "OceanQL synthetic demo: daily global 10 m wind speed and mean sea level pressure (reanalysis-like)";
    let vars = [
        ZarrVar {
            name: "wind_speed",
            long_name: "10 m wind speed",
            standard_name: "wind_speed",
            units: "m s-1",
            scale: WIND_SCALE,
            offset: 0.0,
            valid: (0, 10000),
            fill: WIND_FILL,
        },
        ZarrVar {
            name: "msl",
            long_name: "mean sea level pressure",
            standard_name: "air_pressure_at_mean_sea_level",
            units: "hPa",
            scale: MSL_SCALE,
            offset: MSL_OFFSET,
            valid: (-1500, 1000),
            fill: WIND_FILL,
        },
    ];
    // One chunk per day and variable, like ERA5 in the cloud (ARCO-ERA5).
    create_zarr(path, spec, (spec.ny(), spec.nx()), title, &vars)
}

/// Computes and stores one day of `wind.zarr`.
pub(super) fn store_wind_day(
    arrays: &[Array<FilesystemStore>],
    path: &Path,
    spec: &Spec,
    day: usize,
) -> Result<()> {
    let (ws, msl) = wind_day(spec, day);
    store_zarr_day(&arrays[0], path, day, &ws)?;
    store_zarr_day(&arrays[1], path, day, &msl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_interpolates_and_ends() {
        assert!(storm_at(TRACK_START_DAY - 0.01).is_none());
        assert!(storm_at(TRACK_START_DAY + 4.51).is_none());
        let s = storm_at(TRACK_START_DAY + 3.0).unwrap(); // 2023-08-30 00Z
        assert_eq!(
            (s.lat, s.lon, s.wind, s.pressure),
            (28.4, -84.0, 57.0, 942.0)
        );
        let s = storm_at(TRACK_START_DAY + 0.125).unwrap(); // between the first two points
        assert!((s.lat - 20.1).abs() < 1e-12 && (s.wind - 15.5).abs() < 1e-12);
        let s = storm_at(TRACK_START_DAY + 4.5).unwrap();
        assert_eq!((s.lat, s.lon), (32.9, -78.2));
    }

    #[test]
    fn wake_on_and_off_the_track() {
        // On the peak point (28.4N 84W, 2023-08-30 00Z): -3 °C from then on, e-folding 15 days.
        let (amp, t_pass) = wake_passage(28.4, -84.0).unwrap();
        assert!(
            (amp + 3.0).abs() < 1e-12 && (t_pass - 241.0).abs() < 1e-12,
            "{amp} {t_pass}"
        );
        assert_eq!(wake(28.4, -84.0, 240.9), 0.0);
        assert!((wake(28.4, -84.0, 256.0) + 3.0 * (-1.0f64).exp()).abs() < 1e-12);
        // Far away: nothing, ever.
        assert!(wake_passage(28.4, -70.0).is_none());
        assert!(wake_passage(10.0, -84.0).is_none());
        assert_eq!(wake(28.4, -84.0, 100.0), 0.0);
    }

    #[test]
    fn wind_and_pressure_profiles() {
        // Background by hand at 15N on day 15: 3.5 + 4 + 6 * 1.3 * exp(-½ (35/10)²).
        let want = 3.5 + 4.0 + 7.8 * (-0.5f64 * 3.5 * 3.5).exp();
        assert!((wind_background(15.0, 15.0) - want).abs() < 1e-12);
        // Pressure at the equator: 1012 - 4 exp(-½ (5/6)²) + 7 exp(-½ (30/8)²) - ...
        let want = 1012.0 - 4.0 * (-0.5f64 * (5.0f64 / 6.0).powi(2)).exp()
            + 7.0 * (-0.5f64 * (30.0f64 / 8.0).powi(2)).exp()
            - 10.0 * 1.3 * (-0.5f64 * (60.0f64 / 8.0).powi(2)).exp();
        assert!((msl_background(0.0, 15.0) - want).abs() < 1e-12);
        // The vortex peaks at the radius of maximum wind.
        let s = storm_at(241.0).unwrap();
        assert!((vortex(&s, RMW) - 57.0).abs() < 1e-12);
        assert!(vortex(&s, 0.5 * RMW) < 57.0 && vortex(&s, 2.0 * RMW) < 57.0);
        assert_eq!(vortex(&s, VORTEX_CUTOFF), 0.0);
        assert_eq!(low_weight(0.0), 1.0);
    }
}
