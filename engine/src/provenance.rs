//! Filters on where a row comes from: its `granule` (the file) and its source
//! indices (`row`, `cell` of a swath; `time_index`, `lat_index`, ... of a grid).
//! They select granules and index ranges to read, apart from the space-time
//! [`Window`](crate::window::Window): `granule = 'x.nc' AND row BETWEEN 100 AND 104`
//! reads one block of one file.

use std::collections::BTreeSet;

use datafusion::logical_expr::{Between, BinaryExpr, Cast, Expr, Operator, TableProviderFilterPushDown, TryCast, expr::InList};
use datafusion::arrow::datatypes::DataType;
use datafusion::scalar::ScalarValue;

use crate::window::{Interval, Ranges, window_pushdown};

/// The name of the provenance column holding the granule.
pub const GRANULE: &str = "granule";

/// The granules and index ranges a query's rows can come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Provenance {
    /// The granules (paths, as in the `granule` column) a row may come from; `None` for any.
    pub granules: Option<BTreeSet<String>>,
    /// Ranges of index columns, by name; a column not listed is unconstrained.
    pub index: Vec<(String, Ranges)>,
}

impl Provenance {
    /// Intersects the provenance of all `filters` (conjuncts of the WHERE clause) on
    /// `granule` and the index columns `index_names`; other filters leave it open.
    pub fn from_filters(filters: &[Expr], index_names: &[&str]) -> Provenance {
        filters.iter().filter_map(|f| of(f, index_names)).fold(Provenance::default(), |p, q| p.intersect(&q))
    }

    /// Whether it selects everything.
    pub fn is_all(&self) -> bool {
        self.granules.is_none() && self.index.iter().all(|(_, r)| r.is_all())
    }

    /// Whether rows of granule `path` may be selected.
    pub fn selects_granule(&self, path: &str) -> bool {
        self.granules.as_ref().is_none_or(|g| g.contains(path))
    }

    /// The ranges of index column `name`, if constrained.
    pub fn ranges(&self, name: &str) -> Option<&Ranges> {
        self.index.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// `runs` (sorted, disjoint `[start, end)` index runs along an axis of
    /// length `len`) cut to the ranges of index column `name`.
    pub fn cut(&self, name: &str, runs: &[(usize, usize)], len: usize) -> Vec<(usize, usize)> {
        match self.ranges(name) {
            None => runs.to_vec(),
            Some(r) => intersect_runs(runs, &index_runs(r, len)),
        }
    }

    /// The index slice `slice` (`[start, end)` per index column `names[k]`)
    /// narrowed to the smallest slice holding its selected indices; `None` when
    /// it holds none.
    pub fn narrow(&self, names: &[String], slice: &[(usize, usize)]) -> Option<Vec<(usize, usize)>> {
        let mut out = slice.to_vec();
        for (name, s) in names.iter().zip(out.iter_mut()) {
            let runs = self.cut(name, &[*s], s.1);
            let (first, last) = (runs.first()?, runs.last()?);
            *s = (first.0, last.1);
        }
        Some(out)
    }

    /// For EXPLAIN: `granule=[1 value], row=[100, 104]` (empty when it selects everything).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(g) = &self.granules {
            parts.push(format!("{GRANULE}=[{} value{}]", g.len(), if g.len() == 1 { "" } else { "s" }));
        }
        for (name, r) in self.index.iter().filter(|(_, r)| !r.is_all()) {
            parts.push(format!("{name}={}", r.describe(false)));
        }
        parts.join(", ")
    }

    fn intersect(&self, o: &Provenance) -> Provenance {
        let granules = match (&self.granules, &o.granules) {
            (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let mut index = self.index.clone();
        for (name, r) in &o.index {
            match index.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => *mine = mine.intersect(r),
                None => index.push((name.clone(), r.clone())),
            }
        }
        Provenance { granules, index }
    }

    fn union(&self, o: &Provenance) -> Provenance {
        let granules = match (&self.granules, &o.granules) {
            (Some(a), Some(b)) => Some(a.union(b).cloned().collect()),
            _ => None,
        };
        let index = self
            .index
            .iter()
            .filter_map(|(name, r)| o.ranges(name).map(|s| (name.clone(), r.clone().union(s.clone()))))
            .collect();
        Provenance { granules, index }
    }
}

/// How a table with index columns `index_names` answers `supports_filters_pushdown`:
/// window and provenance filters prune what is read but rows still need the
/// filter (Inexact); others are not pushed.
pub fn pushdown(filters: &[&Expr], index_names: &[&str]) -> Vec<TableProviderFilterPushDown> {
    let window = window_pushdown(filters);
    filters
        .iter()
        .zip(window)
        .map(|(f, w)| match of(f, index_names) {
            Some(p) if !p.is_all() => TableProviderFilterPushDown::Inexact,
            _ => w,
        })
        .collect()
}

/// The provenance one filter allows, `None` when it is not (only) a provenance constraint.
fn of(expr: &Expr, names: &[&str]) -> Option<Provenance> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => match (of(left, names), of(right, names)) {
            (Some(a), Some(b)) => Some(a.intersect(&b)),
            (a, b) => a.or(b),
        },
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => Some(of(left, names)?.union(&of(right, names)?)),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (column, value, op) = match (column(left, names), column(right, names)) {
                (Some(c), None) => (c, right, *op),
                (None, Some(c)) => (c, left, op.swap()?),
                _ => return None,
            };
            if column == GRANULE {
                return if op == Operator::Eq { Some(granules([text(value)?])) } else { None };
            }
            index(column, Ranges(vec![Interval::compared(op, number(value)?)?]))
        }
        Expr::Between(Between { expr, negated: false, low, high }) => {
            let column = column(expr, names).filter(|c| *c != GRANULE)?;
            index(column, Ranges(vec![Interval { lo: number(low)?, lo_incl: true, hi: number(high)?, hi_incl: true }]))
        }
        Expr::InList(InList { expr, list, negated: false }) => {
            let column = column(expr, names)?;
            if column == GRANULE {
                return Some(granules(list.iter().map(text).collect::<Option<Vec<_>>>()?));
            }
            index(column, Ranges(list.iter().map(|e| number(e).map(Interval::point)).collect::<Option<Vec<_>>>()?))
        }
        _ => None,
    }
}

fn granules(paths: impl IntoIterator<Item = String>) -> Provenance {
    Provenance { granules: Some(paths.into_iter().collect()), index: vec![] }
}

fn index(column: &str, ranges: Ranges) -> Option<Provenance> {
    Some(Provenance { granules: None, index: vec![(column.to_string(), ranges)] })
}

/// `granule` or one of the index columns `names`, also under a cast
/// (`CAST(granule AS VARCHAR)`, `CAST(row AS BIGINT)`: the values are unchanged).
fn column<'a>(expr: &'a Expr, names: &[&str]) -> Option<&'a str> {
    match expr {
        Expr::Column(c) if c.name == GRANULE || names.contains(&c.name.as_str()) => Some(c.name.as_str()),
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            let (column, data_type) = (column(expr, names)?, field.data_type());
            let lossless = if column == GRANULE { matches!(data_type, DataType::Dictionary(..)) || data_type.is_string() } else { data_type.is_integer() || data_type.is_floating() };
            lossless.then_some(column)
        }
        _ => None,
    }
}

/// A text literal (also a dictionary-encoded one, or a cast of one, as type coercion
/// makes of `granule = '...'`).
fn text(expr: &Expr) -> Option<String> {
    fn scalar(v: &ScalarValue) -> Option<String> {
        match v {
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
            ScalarValue::Dictionary(_, v) => scalar(v),
            _ => None,
        }
    }
    match expr {
        Expr::Literal(v, _) => scalar(v),
        Expr::Cast(Cast { expr, .. }) | Expr::TryCast(TryCast { expr, .. }) => text(expr),
        _ => None,
    }
}

/// A number literal as f64.
fn number(expr: &Expr) -> Option<f64> {
    let Expr::Literal(v, _) = expr else { return None };
    if !v.data_type().is_numeric() {
        return None;
    }
    match v.cast_to(&DataType::Float64).ok()? {
        ScalarValue::Float64(Some(x)) if !x.is_nan() => Some(x),
        _ => None,
    }
}

/// The sorted, disjoint `[start, end)` runs of indices in `0..len` that `ranges` holds.
pub fn index_runs(ranges: &Ranges, len: usize) -> Vec<(usize, usize)> {
    let top = len as f64;
    let mut runs: Vec<(usize, usize)> = ranges
        .0
        .iter()
        .filter_map(|i| {
            let start = if i.lo_incl { i.lo.ceil() } else { i.lo.floor() + 1.0 };
            let end = if i.hi_incl { i.hi.floor() + 1.0 } else { i.hi.ceil() };
            let (start, end) = (start.clamp(0.0, top), end.clamp(0.0, top));
            (start < end).then_some((start as usize, end as usize))
        })
        .collect();
    runs.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(runs.len());
    for (s, e) in runs {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// The indices in both of two sorted, disjoint lists of runs.
fn intersect_runs(a: &[(usize, usize)], b: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &(s, e) in a {
        for &(t, f) in b {
            let (lo, hi) = (s.max(t), e.min(f));
            if lo < hi {
                out.push((lo, hi));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{cast, col, lit};

    const NAMES: &[&str] = &["row", "cell"];

    #[test]
    fn granules_and_index_ranges() {
        let dict = ScalarValue::Dictionary(Box::new(DataType::Int32), Box::new(ScalarValue::from("a.nc")));
        let p = Provenance::from_filters(
            &[col("granule").eq(lit(dict)), col("row").between(lit(100), lit(104)), col("cell").gt_eq(lit(20)).and(col("cell").lt(lit(25)))],
            NAMES,
        );
        assert_eq!(p.granules, Some(BTreeSet::from(["a.nc".to_string()])));
        assert!(p.selects_granule("a.nc") && !p.selects_granule("b.nc"));
        assert_eq!(p.cut("row", &[(0, 2000)], 2000), vec![(100, 105)]);
        assert_eq!(p.cut("cell", &[(0, 100)], 100), vec![(20, 25)]);
        assert_eq!(p.narrow(&["row".into(), "cell".into()], &[(100, 200), (0, 100)]), Some(vec![(100, 105), (20, 25)]));
        assert_eq!(p.narrow(&["row".into(), "cell".into()], &[(200, 300), (0, 100)]), None);
        assert_eq!(p.describe(), "granule=[1 value], row=[100, 104], cell=[20, 25)");
    }

    #[test]
    fn lists_casts_and_unions() {
        let p = Provenance::from_filters(
            &[
                cast(col("granule"), DataType::Utf8).in_list(vec![lit("a.nc"), lit("b.nc")], false),
                col("row").in_list(vec![lit(3), lit(3), lit(7)], false),
                col("cell").eq(lit(1)).or(col("cell").eq(lit(2))),
            ],
            NAMES,
        );
        assert_eq!(p.granules.as_ref().map(BTreeSet::len), Some(2));
        assert_eq!(p.cut("row", &[(0, 10)], 10), vec![(3, 4), (7, 8)], "duplicates merged");
        assert_eq!(p.cut("cell", &[(0, 10)], 10), vec![(1, 3)]);
        // An OR over different columns, a negated list, another column: not pushed.
        for f in [col("row").eq(lit(1)).or(col("cell").eq(lit(1))), col("row").in_list(vec![lit(1)], true), col("sst").gt(lit(1))] {
            assert!(Provenance::from_filters(std::slice::from_ref(&f), NAMES).is_all(), "{f}");
            assert_eq!(pushdown(&[&f], NAMES), vec![TableProviderFilterPushDown::Unsupported]);
        }
        // Conjunctions intersect: no granule is both.
        let p = Provenance::from_filters(&[col("granule").eq(lit("a.nc")), col("granule").eq(lit("b.nc"))], NAMES);
        assert!(!p.selects_granule("a.nc") && !p.selects_granule("b.nc"));
    }

    #[test]
    fn open_and_fractional_bounds() {
        let r = |e: Expr| index_runs(Provenance::from_filters(&[e], NAMES).ranges("row").unwrap(), 10);
        assert_eq!(r(col("row").gt(lit(7))), vec![(8, 10)]);
        assert_eq!(r(col("row").lt(lit(2.5))), vec![(0, 3)]);
        assert_eq!(r(col("row").lt_eq(lit(-1))), vec![]);
        assert_eq!(r(col("row").between(lit(8), lit(20))), vec![(8, 10)]);
    }
}
