//! `colocate(lat1, lon1, time1, lat2, lon2, time2, radius_km, max_dt_seconds)`:
//! whether two observations are within a great-circle distance and a time.
//! As a join condition it is executed by the engine's space-time join
//! (`ColocateJoinExec`), not row pair by row pair; this is its meaning.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use datafusion_macros::user_doc;

use crate::haversine_km::haversine;

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "True when two observations lie within radius_km (great circle, on a sphere of 6371.0088 km) and max_dt_seconds of each other; NULL if a position or time is NULL. In a JOIN ... ON (or a WHERE over two tables) OceanQL runs it as a space-time index join (ColocateJoinExec in EXPLAIN) and restricts the scan of the larger side to the granules and tiles near the smaller side.",
    syntax_example = "colocate(lat1, lon1, time1, lat2, lon2, time2, radius_km, max_dt_seconds)",
    sql_example = r#"```sql
> SELECT d.platform_id, s.sst, haversine_km(d.lat, d.lon, s.lat, s.lon) AS km
  FROM drifters d JOIN sst s ON colocate(d.lat, d.lon, d.time, s.lat, s.lon, s.time, 10, 3600);
```"#,
    argument(name = "lat1", description = "Latitude of the first observation, degrees north."),
    argument(name = "lon1", description = "Longitude of the first observation, degrees east."),
    argument(name = "time1", description = "Time of the first observation (a timestamp)."),
    argument(name = "lat2", description = "Latitude of the second observation."),
    argument(name = "lon2", description = "Longitude of the second observation."),
    argument(name = "time2", description = "Time of the second observation."),
    argument(name = "radius_km", description = "Largest distance, km (a constant)."),
    argument(name = "max_dt_seconds", description = "Largest time difference, seconds (a constant).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Colocate {
    signature: Signature,
}

impl Default for Colocate {
    fn default() -> Self {
        Self::new()
    }
}

impl Colocate {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

/// The type every time argument is cast to.
fn micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl ScalarUDFImpl for Colocate {
    fn name(&self) -> &str {
        "colocate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        if types.len() != 8 {
            return plan_err!("colocate() takes 8 arguments: lat1, lon1, time1, lat2, lon2, time2, radius_km, max_dt_seconds");
        }
        types
            .iter()
            .enumerate()
            .map(|(i, t)| match (i, t) {
                (2 | 5, DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 | DataType::Null) => Ok(micros()),
                (2 | 5, other) => plan_err!("colocate(): argument {} (a time) must be a timestamp, not {other}", i + 1),
                (_, t) if t.is_numeric() || *t == DataType::Null => Ok(DataType::Float64),
                (_, other) => plan_err!("colocate(): argument {} must be a number, not {other}", i + 1),
            })
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let f = |i: usize| arrays[i].as_primitive::<Float64Type>();
        let t = |i: usize| arrays[i].as_primitive::<TimestampMicrosecondType>();
        let (lat1, lon1, t1, lat2, lon2, t2, radius, dt) = (f(0), f(1), t(2), f(3), f(4), t(5), f(6), f(7));
        let n = rows.max(lat1.len());
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let nulls = [lat1.is_null(i), lon1.is_null(i), t1.is_null(i), lat2.is_null(i), lon2.is_null(i), t2.is_null(i), radius.is_null(i), dt.is_null(i)];
            if nulls.iter().any(|x| *x) {
                out.push(None);
                continue;
            }
            if radius.value(i) < 0.0 || dt.value(i) < 0.0 {
                return exec_err!("colocate(): radius_km and max_dt_seconds must be >= 0, not {} and {}", radius.value(i), dt.value(i));
            }
            let near = haversine(lat1.value(i), lon1.value(i), lat2.value(i), lon2.value(i)) <= radius.value(i);
            let close = (t1.value(i) - t2.value(i)).abs() as f64 <= dt.value(i) * 1e6;
            out.push(Some(near && close));
        }
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(out))))
    }
}
