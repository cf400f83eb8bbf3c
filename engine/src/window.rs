//! The space-time window of a query: filters on `time`, `depth`, `lat`, `lon`
//! turned into unions of intervals, then into index runs along each grid axis.

use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, expr::InList};
use datafusion::scalar::ScalarValue;

use crate::geo_window::geometry_ranges;

/// A closed or half-open interval of f64 (time is in microseconds since the epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub lo_incl: bool,
    pub hi: f64,
    pub hi_incl: bool,
}

impl Interval {
    pub const ALL: Interval = Interval { lo: f64::NEG_INFINITY, lo_incl: true, hi: f64::INFINITY, hi_incl: true };

    pub fn point(x: f64) -> Self {
        Interval { lo: x, lo_incl: true, hi: x, hi_incl: true }
    }

    #[inline]
    pub fn contains(&self, x: f64) -> bool {
        (x > self.lo || (self.lo_incl && x == self.lo)) && (x < self.hi || (self.hi_incl && x == self.hi))
    }

    /// The values `x` for which `x <op> value` holds (=, <, <=, >, >=).
    pub fn compared(op: Operator, value: f64) -> Option<Interval> {
        let inf = f64::INFINITY;
        Some(match op {
            Operator::Eq => Interval::point(value),
            Operator::Lt => Interval { lo: -inf, lo_incl: true, hi: value, hi_incl: false },
            Operator::LtEq => Interval { lo: -inf, lo_incl: true, hi: value, hi_incl: true },
            Operator::Gt => Interval { lo: value, lo_incl: false, hi: inf, hi_incl: true },
            Operator::GtEq => Interval { lo: value, lo_incl: true, hi: inf, hi_incl: true },
            _ => return None,
        })
    }

    fn intersect(&self, o: &Interval) -> Option<Interval> {
        let (lo, lo_incl) = if self.lo > o.lo {
            (self.lo, self.lo_incl)
        } else if o.lo > self.lo {
            (o.lo, o.lo_incl)
        } else {
            (self.lo, self.lo_incl && o.lo_incl)
        };
        let (hi, hi_incl) = if self.hi < o.hi {
            (self.hi, self.hi_incl)
        } else if o.hi < self.hi {
            (o.hi, o.hi_incl)
        } else {
            (self.hi, self.hi_incl && o.hi_incl)
        };
        (lo < hi || (lo == hi && lo_incl && hi_incl)).then_some(Interval { lo, lo_incl, hi, hi_incl })
    }
}

/// A union of intervals; the empty union matches nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges(pub Vec<Interval>);

impl Ranges {
    pub fn all() -> Self {
        Ranges(vec![Interval::ALL])
    }

    pub fn contains(&self, x: f64) -> bool {
        self.0.iter().any(|i| i.contains(x))
    }

    pub fn is_all(&self) -> bool {
        self.0.contains(&Interval::ALL)
    }

    pub fn intersect(&self, o: &Ranges) -> Ranges {
        Ranges(self.0.iter().flat_map(|a| o.0.iter().filter_map(|b| a.intersect(b))).collect())
    }

    pub fn union(mut self, o: Ranges) -> Ranges {
        self.0.extend(o.0);
        self
    }

    /// Maximal runs `[start, end)` of indices whose axis value lies in the ranges.
    pub fn runs(&self, axis: &[f64]) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut start = None;
        for (i, &x) in axis.iter().enumerate() {
            match (self.contains(x), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    runs.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            runs.push((s, axis.len()));
        }
        runs
    }

    /// The ranges as text for EXPLAIN: `[lo, hi] ∪ (lo, hi)`; times as ISO 8601.
    pub fn describe(&self, time: bool) -> String {
        let show = |x: f64| {
            if !x.is_finite() {
                return if x < 0.0 { "-inf".to_string() } else { "inf".to_string() };
            }
            if time { oceanql_connectors::cf::format_micros(x as i64) } else { format!("{x}") }
        };
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|i| {
                format!("{}{}, {}{}", if i.lo_incl { "[" } else { "(" }, show(i.lo), show(i.hi), if i.hi_incl { "]" } else { ")" })
            })
            .collect();
        if parts.is_empty() { "{}".into() } else { parts.join(" ∪ ") }
    }

    /// Whether any value in [lo, hi] may match.
    pub fn overlaps(&self, lo: f64, hi: f64) -> bool {
        let probe = Interval { lo, lo_incl: true, hi, hi_incl: true };
        self.0.iter().any(|i| i.intersect(&probe).is_some())
    }
}

/// The window on each coordinate column; `Ranges::all()` where unconstrained.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub time: Ranges,
    pub depth: Ranges,
    pub lat: Ranges,
    pub lon: Ranges,
}

impl Default for Window {
    fn default() -> Self {
        Window { time: Ranges::all(), depth: Ranges::all(), lat: Ranges::all(), lon: Ranges::all() }
    }
}

/// The coordinate columns a window can constrain.
pub const WINDOW_COLUMNS: [&str; 4] = ["time", "depth", "lat", "lon"];

impl Window {
    /// Intersects the windows of all `filters` (conjuncts of the WHERE clause).
    pub fn from_filters(filters: &[Expr]) -> Window {
        let mut w = Window::default();
        for f in filters {
            let ranges = column_ranges(f).map(|one| vec![one]).or_else(|| geometry_ranges(f).map(Vec::from));
            if let Some(ranges) = ranges {
                for (col, r) in ranges {
                    let slot = w.slot(&col);
                    *slot = slot.intersect(&r);
                }
            } else if let Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) = f {
                let inner = Window::from_filters(&[(**left).clone(), (**right).clone()]);
                w = w.intersect(&inner);
            }
        }
        w
    }

    pub fn intersect(&self, o: &Window) -> Window {
        Window {
            time: self.time.intersect(&o.time),
            depth: self.depth.intersect(&o.depth),
            lat: self.lat.intersect(&o.lat),
            lon: self.lon.intersect(&o.lon),
        }
    }

    /// The ranges of window column `col` (`time`, `depth`, `lat`, else `lon`).
    pub fn slot(&mut self, col: &str) -> &mut Ranges {
        match col {
            "time" => &mut self.time,
            "depth" => &mut self.depth,
            "lat" => &mut self.lat,
            _ => &mut self.lon,
        }
    }
}

/// How a table answers `supports_filters_pushdown`: window filters prune what
/// is read, but rows still need the filter (Inexact); others are not pushed.
pub fn window_pushdown(filters: &[&Expr]) -> Vec<datafusion::logical_expr::TableProviderFilterPushDown> {
    use datafusion::logical_expr::TableProviderFilterPushDown::{Inexact, Unsupported};
    filters.iter().map(|f| if is_window_filter(f) { Inexact } else { Unsupported }).collect()
}

/// Whether a filter constrains only window columns in a form [`Window::from_filters`] understands
/// (including geometry filters on `st_point(lon, lat)`: [`geometry_ranges`]).
pub fn is_window_filter(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => is_window_filter(left) || is_window_filter(right),
        other => column_ranges(other).is_some() || geometry_ranges(other).is_some(),
    }
}

/// Whether a filter is only ranges of `lat`, `lon` or `depth` (a conjunction of them), which a
/// grid scan applies exactly by cutting its slabs to the axis values inside them.
pub fn is_axis_range_filter(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => is_axis_range_filter(left) && is_axis_range_filter(right),
        other => column_ranges(other).is_some_and(|(c, _)| ["lat", "lon", "depth"].contains(&c.as_str())),
    }
}

/// The single window column `expr` constrains and the ranges it allows.
fn column_ranges(expr: &Expr) -> Option<(String, Ranges)> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => {
                let (a, ra) = column_ranges(left)?;
                let (b, rb) = column_ranges(right)?;
                (a == b).then(|| (a, ra.intersect(&rb)))
            }
            Operator::Or => {
                let (a, ra) = column_ranges(left)?;
                let (b, rb) = column_ranges(right)?;
                (a == b).then(|| (a, ra.union(rb)))
            }
            _ => comparison(left, *op, right),
        },
        Expr::Between(Between { expr, negated: false, low, high }) => {
            let col = window_column(expr)?;
            let (lo, hi) = (literal(low)?, literal(high)?);
            Some((col, Ranges(vec![Interval { lo, lo_incl: true, hi, hi_incl: true }])))
        }
        Expr::InList(InList { expr, list, negated: false }) => {
            let col = window_column(expr)?;
            let points = list.iter().map(|e| literal(e).map(Interval::point)).collect::<Option<Vec<_>>>()?;
            Some((col, Ranges(points)))
        }
        _ => None,
    }
}

fn comparison(left: &Expr, op: Operator, right: &Expr) -> Option<(String, Ranges)> {
    let (col, value, op) = match (window_column(left), window_column(right)) {
        (Some(c), None) => (c, literal(right)?, op),
        (None, Some(c)) => (c, literal(left)?, op.swap()?),
        _ => return None,
    };
    Some((col, Ranges(vec![Interval::compared(op, value)?])))
}

pub(crate) fn window_column(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(c) if WINDOW_COLUMNS.contains(&c.name.as_str()) => Some(c.name.clone()),
        _ => None,
    }
}

/// A literal as f64: numbers as they are, timestamps and dates in microseconds since the epoch.
pub(crate) fn literal(expr: &Expr) -> Option<f64> {
    let Expr::Literal(v, _) = expr else { return None };
    let x = match v {
        ScalarValue::TimestampSecond(Some(x), _) => *x as f64 * 1e6,
        ScalarValue::TimestampMillisecond(Some(x), _) => *x as f64 * 1e3,
        ScalarValue::TimestampMicrosecond(Some(x), _) => *x as f64,
        ScalarValue::TimestampNanosecond(Some(x), _) => (*x as f64 / 1e3).floor(),
        ScalarValue::Date32(Some(d)) => *d as f64 * 86_400e6,
        ScalarValue::Date64(Some(ms)) => *ms as f64 * 1e3,
        ScalarValue::Float64(Some(x)) => *x,
        ScalarValue::Float32(Some(x)) => *x as f64,
        ScalarValue::Int8(Some(x)) => *x as f64,
        ScalarValue::Int16(Some(x)) => *x as f64,
        ScalarValue::Int32(Some(x)) => *x as f64,
        ScalarValue::Int64(Some(x)) => *x as f64,
        ScalarValue::UInt8(Some(x)) => *x as f64,
        ScalarValue::UInt16(Some(x)) => *x as f64,
        ScalarValue::UInt32(Some(x)) => *x as f64,
        ScalarValue::UInt64(Some(x)) => *x as f64,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn ranges_and_runs() {
        let w = Window::from_filters(&[col("lat").between(lit(10.0), lit(20.0)), col("lon").gt(lit(170.0)).or(col("lon").lt(lit(-170.0)))]);
        assert_eq!(w.lat.runs(&[25.0, 15.0, 12.0, 5.0, 10.0]), vec![(1, 3), (4, 5)]);
        assert_eq!(w.lon.runs(&[-175.0, 0.0, 175.0]), vec![(0, 1), (2, 3)]);
        assert!(w.time.is_all());
    }

    #[test]
    fn conjunctions_intersect() {
        let w = Window::from_filters(&[col("lat").gt_eq(lit(0)).and(col("lat").lt(lit(5))), lit(3).lt(col("lat"))]);
        assert_eq!(w.lat.runs(&[0.0, 3.0, 4.0, 5.0]), vec![(2, 3)]);
        let w = Window::from_filters(&[col("lat").in_list(vec![lit(1.0), lit(3.0)], false)]);
        assert_eq!(w.lat.runs(&[1.0, 2.0, 3.0]), vec![(0, 1), (2, 3)]);
    }

    #[test]
    fn unknown_filters_leave_window_open() {
        let f = col("sst").gt(lit(1.0)).or(col("lat").gt(lit(1.0)));
        assert!(!is_window_filter(&f));
        assert_eq!(Window::from_filters(&[f]), Window::default());
    }
}
