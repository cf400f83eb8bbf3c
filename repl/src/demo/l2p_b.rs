//! `l2p_b/*.nc`: L2P-like swaths of a second sensor ("DEMO_B") that cross the `l2p/`
//! granules, for crossover and inter-sensor comparisons.
//!
//! Same layout, variables and attributes as `l2p/` (see the comment above
//! `L2P_GRANULES` in `demo.rs`), plus the global attributes `platform` and `sensor`;
//! named `YYYYMMDDHHMMSS-OCEANQL-L2P_GHRSST-SSTskin-DEMO_B_kk-v02.0-fv01.0.nc` (the time
//! of line 0, granule number kk); 240 lines x 160 pixels, 1 km apart, one line per second.
//!
//! * Granule k (0..29) with k mod 6 != 5 crosses `l2p` granule `DEMO_kk` (k mod the
//!   number of `l2p` granules): its fractional (line 60..180, pixel 40..120) is at
//!   pixel (line 80..220, pixel 30..90) of that granule, seen ±(600..9000) s apart,
//!   heading 25..50° left or right of that granule's. So
//!   `crossover('l2p', 'l2p_b', 10800)` pairs 25 granules, each `DEMO_B_kk` with `DEMO_kk`.
//! * The other 5 lie on a drifter fix, like the `l2p` granules (no crossing intended).
//! * sea_surface_temperature = field(lat, lon, pixel time) + 273.15 - 0.17 (cool
//!   skin) + 0.15 K (the sensor's bias) + noise: quality_level 5: N(0, 0.3 K); 4: N(0,
//!   0.4); 3: -0.4 K + N(0, 0.5); 2: -0.5 K + N(0, 0.8); clouds (1), land (0) and the
//!   quality draws as in `l2p`, from this granule's own random numbers; no outlier seeds.
//!
//! Over the overlaps, clear pixels (quality_level >= 4 on both sides) within 1 km differ
//! by B - A = +0.15 K on average (sd about 0.4 K).

use std::path::Path;

use datafusion::error::Result;

use super::{
    Model, Rng, SEED, Sensor, Spec, SwathGeometry, Track, clear_nc_dir, fill_swath, pipeline,
    positions, swath_on_a_fix, swath_stamp, write_l2p_granule,
};

/// Number of granules in `l2p_b/`.
pub(super) const GRANULES: usize = 30;

/// The second sensor: wider granules (240 lines x 160 pixels), noisier, 0.15 K warmer.
const SENSOR_B: Sensor = Sensor {
    lines: 240,
    pixels: 160,
    bias: 0.15,
    sigma_best: 0.3,
    sigma_acceptable: 0.4,
};

/// Global attributes of the `l2p_b/` granules.
const ATTRIBUTES: &[(&str, &str)] = &[
    (
        "title",
        "OceanQL synthetic demo: GHRSST L2P-like swath of skin SST, second sensor (DEMO_B)",
    ),
    ("Conventions", "CF-1.7, ACDD-1.3"),
    ("source", "OceanQL synthetic demo"),
    ("institution", "OceanQL"),
    ("history", "written by `oceanql demo`"),
    ("processing_level", "L2P"),
    ("gds_version_id", "2.0"),
    ("platform", "DEMO_B"),
    ("sensor", "DEMO_B radiometer"),
    (
        "comment",
        "Synthetic data, NOT real observations: the demo SST field, cool skin -0.17 K, a +0.15 K \
         sensor bias, noise and clouds; most granules cross an l2p granule within 3 hours.",
    ),
    ("license", "Apache-2.0"),
];

/// Whether granule `k` crosses an `l2p` granule (5 in 6 do; the others lie on a drifter fix).
pub(super) fn crosses(k: usize) -> bool {
    k % 6 != 5
}

/// Where granule `k` lies and the time (days) its eddies are taken at.
///
/// Crossing granule `k` (see [`crosses`]) goes through pixel (line 80..220, pixel
/// 30..90) of `l2p` granule `k mod n`, `dt` = ±(600..9000) s after that pixel was seen,
/// heading 25..50° left or right of that granule's, the crossing point at its
/// fractional (line 60..180, pixel 40..120).
fn geometry(
    k: usize,
    rng: &mut Rng,
    tracks: &[Track],
    swaths: &[SwathGeometry],
) -> (SwathGeometry, f64) {
    if !crosses(k) || swaths.is_empty() {
        let (g, fix_s) = swath_on_a_fix(rng, tracks, (48.0, 192.0), (30.0, 130.0));
        return (g, fix_s as f64 / 86_400.0);
    }
    let a = &swaths[k % swaths.len()];
    let (ja, ia) = (rng.uniform(80.0, 220.0), rng.uniform(30.0, 90.0));
    let (lat0, lon0) = a.at(ja, ia);
    let seen_s = a.start_s as f64 + ja;
    let side = if rng.uniform(0.0, 1.0) < 0.5 {
        -1.0
    } else {
        1.0
    };
    let heading = a.heading + side * rng.uniform(25.0, 50.0).to_radians();
    let later = if rng.uniform(0.0, 1.0) < 0.5 {
        -1.0
    } else {
        1.0
    };
    let dt = later * rng.uniform(600.0, 9000.0);
    let lf = rng.uniform(60.0, 180.0);
    let cf = rng.uniform(40.0, 120.0);
    let geometry = SwathGeometry {
        lat0,
        lon0,
        lf,
        cf,
        heading,
        start_s: (seen_s + dt - lf).round() as i64,
    };
    (geometry, (seen_s + dt) / 86_400.0)
}

/// Writes `l2p_b/*.nc`: `spec.l2p_b_granules` granules, placed against the `l2p`
/// granules' `swaths`.
pub(super) fn write_l2p_b(
    dir: &Path,
    spec: &Spec,
    model: &Model,
    tracks: &[Track],
    swaths: &[SwathGeometry],
) -> Result<()> {
    if spec.l2p_b_granules == 0 {
        return Ok(());
    }
    let out = dir.join("l2p_b");
    clear_nc_dir(&out)?;
    let tracks = positions(tracks);
    if tracks.is_empty() {
        return Ok(());
    }
    let compute = |k: usize| {
        let mut rng = Rng::new(SEED ^ 0xB2F0_0000_0000 ^ (k as u64).wrapping_mul(0x9E37_79B9));
        let (g, t_eddies) = geometry(k, &mut rng, &tracks, swaths);
        let mut granule = fill_swath(model, &g, &SENSOR_B, t_eddies, &mut rng, None);
        granule.name = format!(
            "{}-OCEANQL-L2P_GHRSST-SSTskin-DEMO_B_{k:02}-v02.0-fv01.0.nc",
            swath_stamp(&g)
        );
        Ok(granule)
    };
    pipeline(spec.l2p_b_granules, &compute, |_, g| {
        write_l2p_granule(&out.join(&g.name), &g, ATTRIBUTES)
    })
}
