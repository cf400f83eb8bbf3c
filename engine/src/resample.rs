//! `resample('<table>', '<variable>', resolution_deg, '<interval>')`: bins any table with
//! `time`, `lat`, `lon` (grid, swath, along-track, in situ) onto a regular lat/lon grid and
//! time buckets: `time, lat, lon, mean, min, max, std, count`.
//!
//! It is a view of `SELECT date_bin(interval, time) AS time, grid_snap(lat, r) AS lat,
//! grid_snap(lon, r) AS lon, avg(v), min(v), max(v), stddev_pop(v), count(v) FROM t
//! WHERE v IS NOT NULL GROUP BY 1, 2, 3`: cells are those of `grid_snap` (so a GROUP BY
//! written by hand agrees), buckets start at 1970-01-01T00:00:00Z plus a whole number of
//! intervals (calendar months and years for month intervals).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::datasource::ViewTable;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{avg, count, max, min, stddev_pop};
use datafusion::logical_expr::{Expr, ScalarUDF, cast, lit};
use datafusion::scalar::ScalarValue;
use oceanql_udfs::GridSnap;

use crate::climatology::{LAT, LON, Source, TIME, column, text_arg};

const USAGE: &str = "resample('<table>', '<variable>', resolution_deg, '<interval>')";

/// One line for `\df`.
pub const DESCRIPTION: &str = "resample('<table>', '<variable>', resolution_deg, '<interval>'): time, lat, lon, mean, min, max, std (population), count per grid cell (grid_snap) and time bucket";

/// `resample(...)`.
#[derive(Debug, Default)]
pub struct Resample;

impl TableFunctionImpl for Resample {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let f = "resample";
        let [table, variable, resolution, interval] = args.exprs() else {
            return plan_err!("resample() takes 4 arguments: {USAGE}");
        };
        let source = Source::open(args.session(), f, &text_arg(f, "table", table, USAGE)?)?;
        let variable = source.variable(&text_arg(f, "variable", variable, USAGE)?)?;
        let resolution = resolution_arg(resolution)?;
        let stride = interval_arg(interval)?;
        let snap = |axis: &str| ScalarUDF::from(GridSnap::new()).call(vec![column(axis), lit(resolution)]).alias(axis);
        // date_bin works in nanoseconds: back to the table's time type.
        let time_type = source.time_type()?;
        let bucket = datafusion::functions::datetime::date_bin()
            .call(vec![lit(ScalarValue::IntervalMonthDayNano(Some(stride))), column(TIME)]);
        let bucket = cast(bucket, time_type).alias(TIME);
        let value = column(&variable);
        let plan = source
            .scan()?
            .filter(source.coordinates_not_null().and(value.clone().is_not_null()))?
            .aggregate(
                vec![bucket, snap(LAT), snap(LON)],
                vec![
                    avg(value.clone()).alias("mean"),
                    min(value.clone()).alias("min"),
                    max(value.clone()).alias("max"),
                    stddev_pop(value.clone()).alias("std"),
                    count(value).alias("count"),
                ],
            )?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

/// The cell size, degrees: a number literal in (0, 180].
fn resolution_arg(expr: &Expr) -> Result<f64> {
    let value = match expr {
        Expr::Literal(v, _) if v.data_type().is_numeric() && !v.is_null() => match v.cast_to(&DataType::Float64) {
            Ok(ScalarValue::Float64(Some(x))) => Some(x),
            _ => None,
        },
        _ => None,
    };
    match value {
        Some(x) if x > 0.0 && x <= 180.0 => Ok(x),
        _ => plan_err!("resample(): resolution_deg must be a number of degrees in (0, 180], not {expr} ({USAGE})"),
    }
}

/// The bucket length: a text ('1 day', '3 months') or INTERVAL literal, positive, either
/// months or days and smaller units (date_bin cannot mix them).
fn interval_arg(expr: &Expr) -> Result<IntervalMonthDayNano> {
    let bad = |why: &str| plan_datafusion_err!("resample(): interval {why}, not {expr} ({USAGE})");
    let Expr::Literal(value, _) = expr else {
        return Err(bad("must be a text literal such as '1 day', '6 hours', '1 month'"));
    };
    let Ok(ScalarValue::IntervalMonthDayNano(Some(v))) = value.cast_to(&DataType::Interval(IntervalUnit::MonthDayNano)) else {
        return Err(bad("must be a text literal such as '1 day', '6 hours', '1 month'"));
    };
    if v.months < 0 || v.days < 0 || v.nanoseconds < 0 || (v.months == 0 && v.days == 0 && v.nanoseconds == 0) {
        return Err(bad("must be longer than zero"));
    }
    if v.months != 0 && (v.days != 0 || v.nanoseconds != 0) {
        return Err(bad("is either months/years or days and shorter units, not both"));
    }
    Ok(v)
}
