//! Boxes from distance filters: `haversine_km(lat, lon, lat0, lon0) <= r` (or `<`, either
//! point first, `r >= ...`) allows only latitudes within `r` of `lat0` and, away from the
//! poles, longitudes within `asin(sin(r/R) / cos(lat0))` of `lon0` (modulo 360). This logical
//! optimizer rule adds those ranges to the filter as plain comparisons, which every scan
//! prunes with: Parquet row groups and pages by their statistics, grid chunks and in situ
//! files by their window. The distance filter itself stays, so the answer does not change.
//!
//! The added ranges hold for any value: latitudes outside [-90, 90] and longitudes outside
//! [-180, 360] are let through (the haversine formula would wrap them), and the longitude
//! range is repeated 360° either side.

use datafusion::common::tree_node::Transformed;
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, Operator, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use oceanql_udfs::EARTH_RADIUS_KM;

use crate::geo_window::uncast;
use crate::window::literal;

/// The rule (see the module documentation).
#[derive(Debug, Default)]
pub struct DistanceBox;

impl OptimizerRule for DistanceBox {
    fn name(&self) -> &str {
        "oceanql_distance_box"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else { return Ok(Transformed::no(plan)) };
        let parts = split_conjunction(&filter.predicate);
        let added: Vec<Expr> = parts.iter().flat_map(|e| implied_ranges(e)).filter(|r| !parts.contains(&r)).collect();
        if added.is_empty() {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        let predicate = conjunction(parts.into_iter().cloned().chain(added)).unwrap_or(filter.predicate.clone());
        Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(predicate, filter.input)?)))
    }
}

/// The latitude and longitude ranges a distance filter implies (none, one or two).
fn implied_ranges(expr: &Expr) -> Vec<Expr> {
    let Expr::BinaryExpr(b) = expr else { return vec![] };
    let (call, radius) = match b.op {
        Operator::LtEq | Operator::Lt => (b.left.as_ref(), b.right.as_ref()),
        Operator::GtEq | Operator::Gt => (b.right.as_ref(), b.left.as_ref()),
        _ => return vec![],
    };
    let (Some((lat, lon, lat0, lon0)), Some(r)) = (distance_call(call), number(radius)) else { return vec![] };
    ranges(lat, lon, lat0, lon0, r)
}

/// `haversine_km` of a column point and a constant point, either order: the columns'
/// expressions and the constant point.
fn distance_call(expr: &Expr) -> Option<(&Expr, &Expr, f64, f64)> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = expr else { return None };
    let [a, b, c, d] = args.as_slice() else { return None };
    if func.name() != "haversine_km" {
        return None;
    }
    match (number(a), number(b), number(c), number(d)) {
        (None, None, Some(lat0), Some(lon0)) => Some((a, b, lat0, lon0)),
        (Some(lat0), Some(lon0), None, None) => Some((c, d, lat0, lon0)),
        _ => None,
    }
}

/// The ranges of `lat` and `lon` within `r` km of (`lat0`, `lon0`).
fn ranges(lat: &Expr, lon: &Expr, lat0: f64, lon0: f64, r: f64) -> Vec<Expr> {
    if !(r >= 0.0) || !(-90.0..=90.0).contains(&lat0) || !lon0.is_finite() {
        return vec![];
    }
    // The central angle, with a margin for rounding in the distance (1e-9 of a degree).
    let angle = (r / EARTH_RADIUS_KM).to_degrees();
    if angle >= 90.0 {
        return vec![];
    }
    let margin = 1e-9;
    let (south, north) = (lat0 - angle - margin, lat0 + angle + margin);
    // In the form the simplifier leaves (BETWEEN would be rewritten, and added again).
    let between = |e: &Expr, lo: f64, hi: f64| e.clone().gt_eq(lit(lo)).and(e.clone().lt_eq(lit(hi)));
    let lat_range = between(lat, south, north).or(lat.clone().lt(lit(-90.0))).or(lat.clone().gt(lit(90.0)));
    if south <= -90.0 || north >= 90.0 {
        return vec![lat_range]; // a pole is within reach: every longitude is
    }
    let half = ((angle.to_radians().sin() / lat0.to_radians().cos()).min(1.0)).asin().to_degrees() + margin;
    let west = (lon0 - half + 180.0).rem_euclid(360.0) - 180.0;
    let east = west + 2.0 * half;
    let lon_range = [-360.0, 0.0, 360.0]
        .into_iter()
        .map(|k| between(lon, west + k, east + k))
        .reduce(Expr::or)
        .map(|e| e.or(lon.clone().lt(lit(-180.0))).or(lon.clone().gt(lit(360.0))));
    [Some(lat_range), lon_range].into_iter().flatten().collect()
}

/// A finite numeric literal (through casts and a minus sign) as f64.
fn number(expr: &Expr) -> Option<f64> {
    match uncast(expr) {
        Expr::Negative(e) => number(e).map(|x| -x),
        e => literal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::col;

    /// Whether the implied ranges let (lat, lon) through.
    fn allowed(ranges: &[Expr], lat: f64, lon: f64) -> bool {
        ranges.iter().all(|e| holds(e, lat, lon))
    }

    fn holds(e: &Expr, lat: f64, lon: f64) -> bool {
        let value = |e: &Expr| match e {
            Expr::Column(c) if c.name == "lat" => lat,
            Expr::Column(c) if c.name == "lon" => lon,
            other => number(other).expect("a number"),
        };
        match e {
            Expr::BinaryExpr(b) if b.op == Operator::Or => holds(&b.left, lat, lon) || holds(&b.right, lat, lon),
            Expr::BinaryExpr(b) if b.op == Operator::And => holds(&b.left, lat, lon) && holds(&b.right, lat, lon),
            Expr::BinaryExpr(b) if b.op == Operator::GtEq => value(&b.left) >= value(&b.right),
            Expr::BinaryExpr(b) if b.op == Operator::LtEq => value(&b.left) <= value(&b.right),
            Expr::BinaryExpr(b) if b.op == Operator::Lt => value(&b.left) < value(&b.right),
            Expr::BinaryExpr(b) if b.op == Operator::Gt => value(&b.left) > value(&b.right),
            Expr::Between(b) => (value(&b.low)..=value(&b.high)).contains(&value(&b.expr)),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn every_point_within_the_distance_is_inside_the_box() {
        let centres = [(52.0, -133.0), (0.0, 179.9), (-70.0, -179.0), (89.0, 10.0), (-45.0, 0.0)];
        for (lat0, lon0) in centres {
            for r in [1.0, 100.0, 1500.0] {
                let box_ = ranges(&col("lat"), &col("lon"), lat0, lon0, r);
                assert!(!box_.is_empty());
                let (mut inside, mut outside) = (0, 0);
                // A grid of points, in three longitude conventions.
                for i in 0..=360 {
                    for j in 0..720 {
                        let (lat, lon) = (-90.0 + i as f64 * 0.5, -180.0 + j as f64 * 0.5);
                        let near = oceanql_udfs::haversine(lat, lon, lat0, lon0) <= r;
                        for l in [lon, lon.rem_euclid(360.0), lon - 360.0] {
                            if near {
                                assert!(allowed(&box_, lat, l), "({lat}, {l}) within {r} km of ({lat0}, {lon0})");
                                inside += 1;
                            } else if !allowed(&box_, lat, l) {
                                outside += 1;
                            }
                        }
                    }
                }
                assert!(outside > 0 && (r < 100.0 || inside > 0), "the box of {r} km around ({lat0}, {lon0}) prunes");
            }
        }
        // Points at the very edge: exactly r away along the parallel and the meridian.
        let box_ = ranges(&col("lat"), &col("lon"), 52.0, -133.0, 100.0);
        let dlat = (100.0 / EARTH_RADIUS_KM).to_degrees();
        assert!(allowed(&box_, 52.0 + dlat, -133.0) && !allowed(&box_, 52.0 + dlat + 1e-6, -133.0));
    }

    #[test]
    fn only_distance_filters_with_a_constant_point_give_ranges() {
        let f = std::sync::Arc::new(datafusion::logical_expr::ScalarUDF::from(oceanql_udfs::HaversineKm::new()));
        let call = |args: Vec<Expr>| Expr::ScalarFunction(ScalarFunction::new_udf(f.clone(), args));
        let near = call(vec![col("lat"), col("lon"), lit(52.0), lit(-133.0)]);
        assert_eq!(implied_ranges(&near.clone().lt_eq(lit(100.0))).len(), 2);
        assert_eq!(implied_ranges(&lit(100.0).gt(near.clone())).len(), 2);
        let flipped = call(vec![lit(52.0), lit(-133.0), col("lat"), col("lon")]);
        assert_eq!(implied_ranges(&flipped.lt(lit(100))).len(), 2);
        assert!(implied_ranges(&near.clone().gt_eq(lit(100.0))).is_empty()); // far from: no box
        assert!(implied_ranges(&near.lt_eq(col("r"))).is_empty());
        let two_columns = call(vec![col("lat"), col("lon"), col("lat2"), col("lon2")]);
        assert!(implied_ranges(&two_columns.lt_eq(lit(100.0))).is_empty());
    }
}
