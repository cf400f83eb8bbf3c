//! The points of the small side of a space-time join, indexed for two
//! questions: which of them lie within `radius_km` and `max_dt` of a point
//! (the join), and whether any may lie near a tile (the scan of the large side).
//!
//! Points are hashed into cubes of the unit sphere's embedding in 3-D whose
//! side is the chord of `radius_km`: any point within the radius lies in the
//! same cube or one of its 26 neighbours, with no special case at the
//! antimeridian or the poles. Each point is stored under its cube's
//! neighbourhood, so a probe looks up one cube.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::physical_plan::ExecutionPlan;

use oceanql_udfs::EARTH_RADIUS_KM;

use crate::window::{Interval, Ranges, Window};

/// Points of the build side of a colocation join.
#[derive(Debug)]
pub struct NearSet {
    /// Latitude, longitude (degrees), time (microseconds), for each build row; rows with a
    /// missing value are left out.
    lat: Vec<f64>,
    lon: Vec<f64>,
    time: Vec<i64>,
    /// Build row of each point.
    row: Vec<u32>,
    pub radius_km: f64,
    pub max_dt_us: i64,
    /// Cube side (chord of the radius on the unit sphere).
    side: f64,
    /// Points (indices into the vectors above) by cube, each under its 27 cubes.
    cubes: HashMap<[i64; 3], Vec<u32>>,
    /// Point indices sorted by time.
    by_time: Vec<u32>,
}

/// Where a space-time join puts its build side's points for the scan of the
/// other side, before that scan runs: the scan then skips its units of work
/// (blocks, chunks) that no point comes near.
pub type NearSlot = Arc<OnceLock<NearSet>>;

/// A scan that can be restricted to the neighbourhood of a join's points.
pub trait NearScan {
    /// The same scan, restricted by what `slot` holds when it runs.
    fn with_near_slot(&self, slot: NearSlot) -> datafusion::error::Result<Arc<dyn ExecutionPlan>>;
}

/// A unit of work of a scan: what [`keep_near`] needs to know of it.
pub trait ScanUnit: Clone {
    fn granule(&self) -> usize;
    fn is_first_of_granule(&self) -> bool;
    fn set_first_of_granule(&mut self, first: bool);
}

/// Implements [`ScanUnit`] for a scan's unit type with `granule` and `first_of_granule` fields.
#[macro_export]
macro_rules! scan_unit {
    ($unit:ty) => {
        impl $crate::near::ScanUnit for $unit {
            fn granule(&self) -> usize {
                self.granule
            }

            fn is_first_of_granule(&self) -> bool {
                self.first_of_granule
            }

            fn set_first_of_granule(&mut self, first: bool) {
                self.first_of_granule = first;
            }
        }
    };
}

/// Latitude range, longitude spans and time range of a unit of work.
pub type Bounds = (Option<(f64, f64)>, Vec<(f64, f64)>, Option<(i64, i64)>);

/// The units of a partition that some point of `slot` may come near (all of them while the
/// slot is absent or empty); the others are counted in `pruned`.
pub fn units_near<U: ScanUnit>(
    units: Arc<Vec<U>>,
    slot: Option<&NearSlot>,
    pruned: datafusion::physical_plan::metrics::Count,
    bounds: impl Fn(&U) -> Bounds,
) -> Arc<Vec<U>> {
    let Some(near) = slot.and_then(|s| s.get()) else { return units };
    let kept = keep_near(&units, |u| {
        let (lat, lon, time) = bounds(u);
        near.may_touch(lat, &lon, time)
    });
    pruned.add(units.len() - kept.len());
    Arc::new(kept)
}

/// The units `keep` keeps; a granule whose first unit is dropped is counted by its next kept one.
fn keep_near<U: ScanUnit>(units: &[U], keep: impl Fn(&U) -> bool) -> Vec<U> {
    let mut uncounted = std::collections::HashSet::new();
    let mut kept = Vec::new();
    for u in units {
        if !keep(u) {
            if u.is_first_of_granule() {
                uncounted.insert(u.granule());
            }
            continue;
        }
        let mut u = u.clone();
        if uncounted.remove(&u.granule()) {
            u.set_first_of_granule(true);
        }
        kept.push(u);
    }
    kept
}

/// The scan `plan` as a [`NearScan`], if it is one.
pub fn near_scan(plan: &dyn ExecutionPlan) -> Option<&dyn NearScan> {
    if let Some(scan) = plan.downcast_ref::<crate::grid_scan::GridScanExec>() {
        return Some(scan);
    }
    plan.downcast_ref::<crate::sample_scan::SampleScanExec>().map(|s| s as &dyn NearScan)
}

/// Unit vector of a point given in degrees.
fn unit(lat: f64, lon: f64) -> [f64; 3] {
    let (p, l) = (lat.to_radians(), lon.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

impl NearSet {
    /// Indexes the build rows (`None` where a key is missing).
    pub fn new(points: impl Iterator<Item = Option<(f64, f64, i64)>>, radius_km: f64, max_dt_us: i64) -> NearSet {
        let angle = (radius_km / EARTH_RADIUS_KM).min(std::f64::consts::PI);
        let side = (2.0 * (angle / 2.0).sin()).max(1e-9);
        let mut set = NearSet {
            lat: vec![],
            lon: vec![],
            time: vec![],
            row: vec![],
            radius_km,
            max_dt_us,
            side,
            cubes: HashMap::new(),
            by_time: vec![],
        };
        for (r, p) in points.enumerate() {
            let Some((lat, lon, t)) = p.filter(|(lat, lon, _)| lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0) else {
                continue;
            };
            let i = set.lat.len() as u32;
            set.lat.push(lat);
            set.lon.push(lon);
            set.time.push(t);
            set.row.push(r as u32);
            let c = set.cube(lat, lon);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    for dz in -1..=1 {
                        set.cubes.entry([c[0] + dx, c[1] + dy, c[2] + dz]).or_default().push(i);
                    }
                }
            }
        }
        let mut by_time: Vec<u32> = (0..set.lat.len() as u32).collect();
        by_time.sort_by_key(|&i| set.time[i as usize]);
        set.by_time = by_time;
        set
    }

    fn cube(&self, lat: f64, lon: f64) -> [i64; 3] {
        unit(lat, lon).map(|x| (x / self.side).floor() as i64)
    }

    pub fn len(&self) -> usize {
        self.lat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lat.is_empty()
    }

    /// Calls `found(build_row)` for every point within the radius and time of (lat, lon, t).
    pub fn matches(&self, lat: f64, lon: f64, t: i64, mut found: impl FnMut(u32)) {
        if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0) {
            return;
        }
        let Some(candidates) = self.cubes.get(&self.cube(lat, lon)) else { return };
        for &i in candidates {
            let i = i as usize;
            if (self.time[i] - t).abs() <= self.max_dt_us
                && oceanql_udfs::haversine(lat, lon, self.lat[i], self.lon[i]) <= self.radius_km
            {
                found(self.row[i]);
            }
        }
    }

    /// The radius in degrees of latitude.
    fn radius_deg(&self) -> f64 {
        (self.radius_km / EARTH_RADIUS_KM).to_degrees()
    }

    /// Whether some point may lie within the radius and time of a region:
    /// latitudes `lat`, longitude spans `lon`, times `time` (all inclusive).
    pub fn may_touch(&self, lat: Option<(f64, f64)>, lon: &[(f64, f64)], time: Option<(i64, i64)>) -> bool {
        let (Some((lat_lo, lat_hi)), Some((t0, t1))) = (lat, time) else { return false };
        let r = self.radius_deg();
        let first = self.by_time.partition_point(|&i| self.time[i as usize] < t0.saturating_sub(self.max_dt_us));
        for &i in &self.by_time[first..] {
            let i = i as usize;
            if self.time[i] > t1.saturating_add(self.max_dt_us) {
                break;
            }
            let lat = self.lat[i];
            if lat < lat_lo - r || lat > lat_hi + r {
                continue;
            }
            // Longitude reach of the radius at this latitude (everything near a pole).
            let reach = if lat.abs() + r >= 89.0 { 180.0 } else { (r / lat.to_radians().cos().max(1e-6)).min(180.0) };
            if lon.iter().any(|&(w, e)| lon_gap(self.lon[i], w, e) <= reach) {
                return true;
            }
        }
        false
    }

    /// The envelope of the points, widened by the radius and `max_dt`: the
    /// window a scan of the other side can be restricted to.
    pub fn window(&self) -> Window {
        let mut w = Window::default();
        if self.is_empty() {
            let none = Ranges(vec![]);
            return Window { time: none.clone(), depth: Ranges::all(), lat: none.clone(), lon: none };
        }
        let r = self.radius_deg();
        let (lat_lo, lat_hi) = min_max(&self.lat);
        let (t0, t1) = (self.time[self.by_time[0] as usize], self.time[*self.by_time.last().unwrap_or(&0) as usize]);
        w.time = Ranges(vec![closed((t0 - self.max_dt_us) as f64, (t1 + self.max_dt_us) as f64)]);
        w.lat = Ranges(vec![closed(lat_lo - r, lat_hi + r)]);
        let polar = lat_lo - r <= -89.0 || lat_hi + r >= 89.0;
        let (lon_lo, lon_hi) = min_max(&self.lon);
        let reach = r / lat_lo.abs().max(lat_hi.abs()).to_radians().cos().max(1e-6);
        if !polar && lon_lo - reach > -180.0 && lon_hi + reach < 180.0 {
            w.lon = Ranges(vec![closed(lon_lo - reach, lon_hi + reach)]);
        }
        w
    }
}

fn closed(lo: f64, hi: f64) -> Interval {
    Interval { lo, lo_incl: true, hi, hi_incl: true }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)))
}

/// Degrees of longitude from `x` to the span [w, e] (0 inside), the short way round.
fn lon_gap(x: f64, w: f64, e: f64) -> f64 {
    let d = |a: f64, b: f64| {
        let d = (a - b).rem_euclid(360.0);
        d.min(360.0 - d)
    };
    if (w..=e).contains(&x) { 0.0 } else { d(x, w).min(d(x, e)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_points_across_the_antimeridian_and_the_pole() {
        let pts = vec![Some((0.0, 179.95, 0)), Some((89.95, 0.0, 0)), Some((10.0, 10.0, 7_200_000_000)), None];
        let set = NearSet::new(pts.into_iter(), 20.0, 3_600_000_000);
        let found = |lat, lon, t| {
            let mut v = vec![];
            set.matches(lat, lon, t, |r| v.push(r));
            v.sort();
            v
        };
        assert_eq!(found(0.0, -179.95, 0), vec![0]); // 11 km across 180
        assert_eq!(found(89.95, 180.0, 1_000), vec![1]); // 11 km across the pole
        assert_eq!(found(10.0, 10.0, 0), Vec::<u32>::new()); // 2 h apart
        assert_eq!(found(10.1, 10.0, 7_200_000_000 - 3_600_000_000), vec![2]); // dt = max_dt exactly
        assert!(set.may_touch(Some((-1.0, 1.0)), &[(-180.0, -179.9)], Some((0, 0))));
        assert!(!set.may_touch(Some((-1.0, 1.0)), &[(0.0, 1.0)], Some((0, 0))));
        assert!(!set.may_touch(Some((9.0, 11.0)), &[(9.0, 11.0)], Some((0, 1_000))));
    }
}
