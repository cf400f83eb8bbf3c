//! `climatology('<table>', '<variable>', 'month' | 'dayofyear' [, start, end])`: the mean,
//! population standard deviation and count of a variable per grid cell and month (or day of
//! the year) over the chosen years.
//!
//! It is a view of `SELECT date_part('month', time) AS period, lat, lon, avg(v) AS mean,
//! stddev_pop(v) AS std, count(v) AS count FROM t WHERE time >= start AND time < end
//! GROUP BY 1, 2, 3`: the scan below takes the time window, and the outer query's filters on
//! `lat`/`lon` reach it through the grouping. The helpers here (the source table, its
//! checks, the literal arguments) are shared with [`crate::resample`].

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate};
use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::{Column, TableReference, plan_datafusion_err, plan_err};
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::functions::datetime::expr_fn::date_part;
use datafusion::functions_aggregate::expr_fn::{avg, count, stddev_pop};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit};
use datafusion::scalar::ScalarValue;

const USAGE: &str = "climatology('<table>', '<variable>', 'month' | 'dayofyear' [, start, end])";

/// One line for `\df`.
pub const DESCRIPTION: &str = "climatology('<table>', '<variable>', 'month' | 'dayofyear' [, start, end]): period, lat, lon, mean, std (population), count per grid cell and month or day of year";

/// Field metadata key of the `period` column: `month` or `dayofyear` (read by `anomaly()`).
pub const PERIOD_METADATA: &str = "oceanql.period";

/// The period of a climatology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month,
    DayOfYear,
}

impl Period {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "month" => Some(Self::Month),
            "dayofyear" => Some(Self::DayOfYear),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::DayOfYear => "dayofyear",
        }
    }

    /// The largest period number (1-based).
    pub fn count(self) -> usize {
        match self {
            Self::Month => 12,
            Self::DayOfYear => 366,
        }
    }

    /// The period (1-based) of a time in microseconds since 1970, UTC.
    pub fn of_micros(self, micros: i64) -> Option<usize> {
        let t = DateTime::from_timestamp_micros(micros)?;
        Some(match self {
            Self::Month => t.month() as usize,
            Self::DayOfYear => t.ordinal() as usize,
        })
    }

    /// `date_part(...) AS period` in UTC (as `anomaly()` reads it), the kind recorded in the
    /// field's metadata.
    fn expr(self, time: Expr) -> Expr {
        let time = cast(time, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        let part = match self {
            Self::Month => "month",
            Self::DayOfYear => "doy",
        };
        let metadata = FieldMetadata::from(HashMap::from([(PERIOD_METADATA.to_string(), self.name().to_string())]));
        date_part(lit(part), time).alias_with_metadata("period", Some(metadata))
    }
}

/// `climatology(...)`.
#[derive(Debug, Default)]
pub struct Climatology;

impl TableFunctionImpl for Climatology {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let f = "climatology";
        let (table, variable, period, window) = match args.exprs() {
            [t, v, p] => (t, v, p, None),
            [t, v, p, s, e] => (t, v, p, Some((s, e))),
            _ => return plan_err!("climatology() takes 3 or 5 arguments: {USAGE}"),
        };
        let source = Source::open(args.session(), f, &text_arg(f, "table", table, USAGE)?)?;
        let variable = source.variable(&text_arg(f, "variable", variable, USAGE)?)?;
        let text = text_arg(f, "period", period, USAGE)?;
        let Some(period) = Period::parse(&text) else {
            return plan_err!("climatology(): period must be 'month' or 'dayofyear', not '{text}'");
        };
        let mut filter = source.coordinates_not_null();
        if let Some((start, end)) = window {
            filter = filter.and(source.time_window(start, end)?);
        }
        let value = column(&variable);
        let plan = source
            .scan()?
            .filter(filter)?
            .aggregate(
                vec![period.expr(column(TIME)), column(LAT), column(LON)],
                vec![avg(value.clone()).alias("mean"), stddev_pop(value.clone()).alias("std"), count(value).alias("count")],
            )?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

pub(crate) const TIME: &str = "time";
pub(crate) const LAT: &str = "lat";
pub(crate) const LON: &str = "lon";

/// A column by its exact name (no case folding: `"TEMP"` stays upper case).
pub(crate) fn column(name: &str) -> Expr {
    Expr::Column(Column::from_name(name))
}

/// The table a table function reads: its name, provider, and the checks of its columns.
pub(crate) struct Source {
    function: &'static str,
    name: String,
    provider: Arc<dyn TableProvider>,
}

impl Source {
    /// The table `name` of the session, with `time` (a timestamp), `lat`, `lon` (numbers) and no depth axis.
    pub fn open(session: &dyn Session, function: &'static str, name: &str) -> Result<Self> {
        let state = session
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| plan_datafusion_err!("{function}(): no session catalog"))?;
        let reference = TableReference::from(name);
        let schema = state.schema_for_ref(reference.clone()).map_err(|e| plan_datafusion_err!("{function}(): table '{name}': {e}"))?;
        let provider = futures::executor::block_on(schema.table(reference.table()))?
            .ok_or_else(|| plan_datafusion_err!("{function}(): no table '{name}'"))?;
        let source = Self { function, name: name.to_string(), provider };
        source.check_coordinates()?;
        Ok(source)
    }

    fn schema(&self) -> Arc<Schema> {
        self.provider.schema()
    }

    fn check_coordinates(&self) -> Result<()> {
        let (f, name, schema) = (self.function, &self.name, self.schema());
        for axis in ["depth", "pressure"] {
            if schema.field_with_name(axis).is_ok() {
                return plan_err!(
                    "{f}(): table '{name}' has a vertical axis ('{axis}'), which would be averaged over: \
                     make a view of one level without it (CREATE VIEW v AS SELECT time, lat, lon, <variable> FROM {name} WHERE {axis} = ...)"
                );
            }
        }
        match schema.field_with_name(TIME).map(|f| f.data_type()) {
            Ok(DataType::Timestamp(..)) => {}
            Ok(other) => return plan_err!("{f}(): column 'time' of table '{name}' is {other}, not a timestamp"),
            Err(_) => return plan_err!("{f}(): table '{name}' has no 'time' column"),
        }
        for axis in [LAT, LON] {
            match schema.field_with_name(axis).map(|f| f.data_type()) {
                Ok(t) if t.is_numeric() => {}
                Ok(other) => return plan_err!("{f}(): column '{axis}' of table '{name}' is {other}, not a number"),
                Err(_) => return plan_err!("{f}(): table '{name}' has no '{axis}' column"),
            }
        }
        Ok(())
    }

    /// The numeric column `wanted` (matched exactly, else case-insensitively if only one matches).
    pub fn variable(&self, wanted: &str) -> Result<String> {
        let (f, name, schema) = (self.function, &self.name, self.schema());
        let numeric: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|x| x.data_type().is_numeric() && ![LAT, LON].contains(&x.name().as_str()) && !x.name().ends_with("_index"))
            .map(|x| x.name().as_str())
            .collect();
        let found = match schema.field_with_name(wanted) {
            Ok(field) => Some(field),
            Err(_) => {
                let same: Vec<_> = schema.fields().iter().filter(|x| x.name().eq_ignore_ascii_case(wanted)).collect();
                if same.len() == 1 { Some(same[0].as_ref()) } else { None }
            }
        };
        match found {
            Some(field) if numeric.contains(&field.name().as_str()) => Ok(field.name().clone()),
            Some(field) => plan_err!(
                "{f}(): column '{}' of table '{name}' is not a numeric variable ({}); its numeric variables: {}",
                field.name(),
                field.data_type(),
                numeric.join(", ")
            ),
            None => plan_err!("{f}(): table '{name}' has no column '{wanted}'; its numeric variables: {}", numeric.join(", ")),
        }
    }

    /// The type of its `time` column.
    pub fn time_type(&self) -> Result<DataType> {
        Ok(self.schema().field_with_name(TIME)?.data_type().clone())
    }

    /// A scan of the whole table, named after it.
    pub fn scan(&self) -> Result<LogicalPlanBuilder> {
        LogicalPlanBuilder::scan(TableReference::from(self.name.as_str()), provider_as_source(self.provider.clone()), None)
    }

    /// `time IS NOT NULL AND lat IS NOT NULL AND lon IS NOT NULL`.
    pub fn coordinates_not_null(&self) -> Expr {
        column(TIME).is_not_null().and(column(LAT).is_not_null()).and(column(LON).is_not_null())
    }

    /// `time >= start AND time < end` from two literal bounds (either may be NULL: open).
    pub fn time_window(&self, start: &Expr, end: &Expr) -> Result<Expr> {
        let f = self.function;
        let (from, to) = (bound(f, "start", start)?, bound(f, "end", end)?);
        if let (Some(a), Some(b)) = (from, to)
            && a.0 >= b.1
        {
            return plan_err!("{f}(): start ({start}) is not before end ({end})");
        }
        let time_type = self.time_type()?;
        let at = |micros: i64| -> Result<Expr> {
            let utc = ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()));
            Ok(lit(utc.cast_to(&time_type)?))
        };
        let mut window = lit(true);
        if let Some((first, _)) = from {
            window = window.and(column(TIME).gt_eq(at(first)?));
        }
        if let Some((_, after)) = to {
            window = window.and(column(TIME).lt(at(after)?));
        }
        Ok(window)
    }
}

/// What a time bound covers, `[first, after)` in microseconds since 1970 UTC: one instant for a
/// timestamp, the whole day for a date (`'2020-12-31'`, `DATE '...'`), the whole year for an
/// integer (`2020`); `None` for NULL.
fn bound(function: &str, what: &str, expr: &Expr) -> Result<Option<(i64, i64)>> {
    const DAY: i64 = 86_400_000_000;
    let bad = || plan_datafusion_err!("{function}(): {what} must be a timestamp, a date ('2020-12-31') or a year (2020), not {expr}");
    let Expr::Literal(value, _) = expr else { return Err(bad()) };
    if value.is_null() {
        return Ok(None);
    }
    let micros = |v: &ScalarValue| match v.cast_to(&DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))) {
        Ok(ScalarValue::TimestampMicrosecond(Some(t), _)) => Ok(t),
        _ => Err(bad()),
    };
    let range = match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
                Ok(day) => {
                    let t = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc().timestamp_micros();
                    (t, t + DAY)
                }
                Err(_) => micros(value).map(|t| (t, t + 1))?,
            }
        }
        ScalarValue::Date32(_) | ScalarValue::Date64(_) => micros(value).map(|t| (t, t + DAY))?,
        v if v.data_type().is_integer() => {
            let year = match v.cast_to(&DataType::Int32) {
                Ok(ScalarValue::Int32(Some(y))) if (1..=9999).contains(&y) => y,
                _ => return Err(bad()),
            };
            let start = |y: i32| NaiveDate::from_ymd_opt(y, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc().timestamp_micros());
            (start(year).ok_or_else(bad)?, start(year + 1).ok_or_else(bad)?)
        }
        ScalarValue::TimestampSecond(..)
        | ScalarValue::TimestampMillisecond(..)
        | ScalarValue::TimestampMicrosecond(..)
        | ScalarValue::TimestampNanosecond(..) => micros(value).map(|t| (t, t + 1))?,
        _ => return Err(bad()),
    };
    Ok(Some(range))
}

/// A text literal argument.
pub(crate) fn text_arg(function: &str, what: &str, expr: &Expr, usage: &str) -> Result<String> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Ok(s.clone()),
        other => plan_err!("{function}(): {what} must be a text literal in quotes, not {other} ({usage})"),
    }
}
