//! `date_part(part, time)` (DataFusion's function, same signature, types and answers) with
//! a fast path for what ocean time series ask most: the year, month, day, hour or minute of
//! UTC timestamps, computed from the day number by integer arithmetic instead of a calendar
//! conversion per value (a monthly climatology takes the month of every cell). Any other
//! part, type or time zone goes to DataFusion's implementation.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use datafusion::arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// DataFusion's `date_part`, with the fast path (see the module documentation).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DatePart {
    inner: Arc<ScalarUDF>,
}

impl Default for DatePart {
    fn default() -> Self {
        Self::new()
    }
}

impl DatePart {
    pub fn new() -> Self {
        DatePart { inner: datafusion::functions::datetime::date_part() }
    }
}

/// The parts of the fast path.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part {
    Year,
    Month,
    Day,
    Hour,
    Minute,
}

fn fast_part(name: &str) -> Option<Part> {
    match name.trim_matches(|c| c == '\'' || c == '"').to_ascii_lowercase().as_str() {
        "year" => Some(Part::Year),
        "month" => Some(Part::Month),
        "day" => Some(Part::Day),
        "hour" => Some(Part::Hour),
        "minute" => Some(Part::Minute),
        _ => None,
    }
}

/// Time zones that are UTC (no zone: the values are taken as UTC, as DataFusion does).
fn is_utc(tz: Option<&str>) -> bool {
    matches!(tz, None | Some("UTC" | "utc" | "+00:00" | "Z" | "Etc/UTC"))
}

/// Year, month, day of a day number since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The part of a timestamp given in units of `per_second` per second.
fn part_of(v: i64, per_second: i64, part: Part) -> Option<i32> {
    let per_day = per_second * 86_400;
    let (days, in_day) = (v.div_euclid(per_day), v.rem_euclid(per_day));
    let value = match part {
        Part::Year => civil(days).0,
        Part::Month => i64::from(civil(days).1),
        Part::Day => i64::from(civil(days).2),
        Part::Hour => in_day / (per_second * 3600),
        Part::Minute => in_day / (per_second * 60) % 60,
    };
    i32::try_from(value).ok()
}

/// The fast path, `None` when it does not apply (or a year does not fit an Int32).
fn fast(part: Part, array: &ArrayRef) -> Option<ArrayRef> {
    let DataType::Timestamp(unit, tz) = array.data_type() else { return None };
    if !is_utc(tz.as_deref()) {
        return None;
    }
    let per_second = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let values: &[i64] = match unit {
        TimeUnit::Second => array.as_primitive::<datafusion::arrow::datatypes::TimestampSecondType>().values(),
        TimeUnit::Millisecond => array.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>().values(),
        TimeUnit::Microsecond => array.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>().values(),
        TimeUnit::Nanosecond => array.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>().values(),
    };
    let out: Vec<i32> = values.iter().map(|&v| part_of(v, per_second, part)).collect::<Option<_>>()?;
    Some(Arc::new(Int32Array::new(out.into(), array.nulls().cloned())))
}

impl ScalarUDFImpl for DatePart {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let part = match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p)))) => fast_part(p),
            _ => None,
        };
        if let (Some(part), Some(ColumnarValue::Array(array))) = (part, args.args.get(1))
            && let Some(out) = fast(part, array)
        {
            return Ok(ColumnarValue::Array(out));
        }
        self.inner.invoke_with_args(args)
    }

    fn preimage(&self, args: &[Expr], lit_expr: &Expr, info: &SimplifyContext) -> Result<PreimageResult> {
        self.inner.preimage(args, lit_expr, info)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Utc};

    #[test]
    fn parts_match_chrono_over_four_centuries_and_before_1970() {
        // Every 7 hours 13 minutes from 1600 to 2400, in microseconds.
        let start = Utc.with_ymd_and_hms(1600, 1, 1, 0, 0, 0).unwrap().timestamp();
        let end = Utc.with_ymd_and_hms(2400, 3, 1, 0, 0, 0).unwrap().timestamp();
        let mut t = start;
        while t < end {
            let d = Utc.timestamp_opt(t, 0).unwrap();
            let us = t * 1_000_000 + 999_999;
            assert_eq!(part_of(us, 1_000_000, Part::Year), Some(d.year()), "{d}");
            assert_eq!(part_of(us, 1_000_000, Part::Month), Some(d.month() as i32), "{d}");
            assert_eq!(part_of(us, 1_000_000, Part::Day), Some(d.day() as i32), "{d}");
            assert_eq!(part_of(us, 1_000_000, Part::Hour), Some(d.hour() as i32), "{d}");
            assert_eq!(part_of(t, 1, Part::Minute), Some(d.minute() as i32), "{d}");
            t += 7 * 3600 + 13 * 60;
        }
    }

    #[test]
    fn only_utc_timestamps_and_the_five_parts_take_the_fast_path() {
        use datafusion::arrow::array::TimestampMicrosecondArray;
        let utc: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(0), None]).with_timezone("UTC"));
        let paris: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(0)]).with_timezone("Europe/Paris"));
        let out = fast(Part::Year, &utc).unwrap();
        let out = out.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert_eq!((out.value(0), out.is_null(1)), (1970, true));
        assert!(fast(Part::Hour, &paris).is_none());
        assert_eq!(fast_part("'MONTH'"), Some(Part::Month));
        assert_eq!(fast_part("months"), None); // DataFusion's synonyms go to DataFusion
    }
}
