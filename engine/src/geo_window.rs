//! Space windows from geometry filters: `st_intersects(st_point(lon, lat), <constant geometry>)`
//! (either order), `st_within(st_point(..), g)` and `st_contains(g, st_point(..))` allow only
//! points in the geometry's bounding box, so they limit `lon` and `lat` like range filters.
//!
//! The constant is what DataFusion's simplifier folds `st_geomfromtext('...')` or
//! `st_makeenvelope(...)` into: a WKB literal (or WKT text, read as a geometry). The filter stays
//! Inexact: rows are still tested against the geometry itself.

use datafusion::logical_expr::Expr;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::scalar::ScalarValue;
use geo::BoundingRect;

use crate::window::{Interval, Ranges, window_column};

/// The window columns a geometry filter constrains (the point's x column, then its y column)
/// and the ranges it allows; an empty geometry allows nothing.
pub fn geometry_ranges(expr: &Expr) -> Option<[(String, Ranges); 2]> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = expr else { return None };
    let (point, geometry) = match (func.name(), args.as_slice()) {
        ("st_intersects", [a, b]) => match (point_columns(a), point_columns(b)) {
            (Some(p), None) => (p, b),
            (None, Some(p)) => (p, a),
            _ => return None,
        },
        ("st_within", [a, b]) => (point_columns(a)?, b),
        ("st_contains", [a, b]) => (point_columns(b)?, a),
        _ => return None,
    };
    let closed = |lo: f64, hi: f64| Ranges(vec![Interval { lo, lo_incl: true, hi, hi_incl: true }]);
    let (x, y) = match constant_geometry(geometry)?.bounding_rect() {
        Some(r) => (closed(r.min().x, r.max().x), closed(r.min().y, r.max().y)),
        None => (Ranges(vec![]), Ranges(vec![])),
    };
    let (x_col, y_col) = point;
    Some([(x_col, x), (y_col, y)])
}

/// The window columns of `st_point(x, y)` (through casts).
fn point_columns(expr: &Expr) -> Option<(String, String)> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = expr else { return None };
    match (func.name(), args.as_slice()) {
        ("st_point", [x, y]) => Some((window_column(uncast(x))?, window_column(uncast(y))?)),
        _ => None,
    }
}

/// `expr` without the casts type coercion puts around a column (float casts keep the order).
pub(crate) fn uncast(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(c) => uncast(&c.expr),
        Expr::TryCast(c) => uncast(&c.expr),
        other => other,
    }
}

/// A literal geometry: WKB, or WKT text; `None` when it is neither or cannot be read.
fn constant_geometry(expr: &Expr) -> Option<geo::Geometry> {
    let Expr::Literal(value, _) = uncast(expr) else { return None };
    let wkb = match value {
        ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) | ScalarValue::BinaryView(Some(b)) => b.clone(),
        ScalarValue::Utf8(Some(t)) | ScalarValue::LargeUtf8(Some(t)) | ScalarValue::Utf8View(Some(t)) => {
            oceanql_udfs::wkt_to_wkb("window", t).ok()?
        }
        _ => return None,
    };
    oceanql_udfs::to_geometry("window", &wkb).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::prelude::{col, lit};
    use std::sync::Arc;

    fn call(f: ScalarUDF, args: Vec<Expr>) -> Expr {
        Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(f), args))
    }

    fn point() -> Expr {
        call(oceanql_udfs::StPoint::new().into(), vec![col("lon"), col("lat")])
    }

    #[test]
    fn bounding_box_of_constant_polygon() {
        let poly = lit(ScalarValue::Binary(Some(oceanql_udfs::wkt_to_wkb("t", "POLYGON((-5 -2,4 -2,0 3,-5 -2))").unwrap())));
        for f in [
            call(oceanql_udfs::StIntersects::new().into(), vec![point(), poly.clone()]),
            call(oceanql_udfs::StIntersects::new().into(), vec![poly.clone(), point()]),
            call(oceanql_udfs::StWithin::new().into(), vec![point(), poly.clone()]),
            call(oceanql_udfs::StContains::new().into(), vec![poly.clone(), point()]),
        ] {
            let [(x, rx), (y, ry)] = geometry_ranges(&f).expect("a window");
            assert_eq!((x.as_str(), y.as_str()), ("lon", "lat"));
            assert_eq!((rx.describe(false), ry.describe(false)), ("[-5, 4]".to_string(), "[-2, 3]".to_string()));
        }
        // The point must be the contained one, and its coordinates columns.
        assert!(geometry_ranges(&call(oceanql_udfs::StWithin::new().into(), vec![poly.clone(), point()])).is_none());
        let other = call(oceanql_udfs::StPoint::new().into(), vec![col("sst"), col("lat")]);
        assert!(geometry_ranges(&call(oceanql_udfs::StIntersects::new().into(), vec![other, poly])).is_none());
        let empty = lit("POLYGON EMPTY");
        let [(_, rx), _] = geometry_ranges(&call(oceanql_udfs::StIntersects::new().into(), vec![point(), empty])).unwrap();
        assert_eq!(rx, Ranges(vec![]));
    }
}
