//! Which plot a result makes (from its column types and names), and its columns as plain vectors.

use datafusion::arrow::array::{Array, Float64Array, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::error::Result;

use crate::error::usage;

/// What the columns of a result can be drawn as; the numbers are column indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// One time column and numeric columns: one line each.
    TimeSeries { time: usize, values: Vec<usize> },
    /// lat, lon and one numeric column; a time column is allowed when it holds one time.
    Map { lat: usize, lon: usize, value: usize, time: Option<usize> },
    /// time, lat or lon, and one numeric column.
    Hovmoller { time: usize, space: usize, space_is_lat: bool, value: usize },
}

/// The columns each kind of plot needs, for error messages.
pub const NEEDS: &str = "a time series needs a timestamp or date column and numeric columns; \
a map needs lat, lon and one numeric column; a Hovmöller diagram needs a time column, lat or lon, \
and one numeric column";

/// What a column is to a plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Time,
    Lat,
    Lon,
    Number,
    Other,
}

fn role(field: &Field) -> Role {
    let name = field.name().to_ascii_lowercase();
    match field.data_type() {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => Role::Time,
        t if !t.is_numeric() => Role::Other,
        _ if matches!(name.as_str(), "lat" | "latitude") => Role::Lat,
        _ if matches!(name.as_str(), "lon" | "longitude") => Role::Lon,
        _ => Role::Number,
    }
}

/// Chooses the kind of plot from the columns, or says why none fits.
pub fn detect(schema: &Schema) -> Result<Kind> {
    let fields = schema.fields();
    let of = |wanted: Role| -> Vec<usize> { (0..fields.len()).filter(|&i| role(&fields[i]) == wanted).collect() };
    if let Some(&other) = of(Role::Other).first() {
        let field = &fields[other];
        return Err(usage(format!(
            "cannot plot column {} ({}): it is neither a time, lat, lon nor a number; leave it out of the SELECT",
            field.name(),
            field.data_type()
        )));
    }
    let time = single(schema, of(Role::Time), "time")?;
    let lat = single(schema, of(Role::Lat), "lat")?;
    let lon = single(schema, of(Role::Lon), "lon")?;
    let values = of(Role::Number);
    match (time, lat, lon) {
        (_, Some(lat), Some(lon)) => Ok(Kind::Map { lat, lon, value: one_value(schema, &values, "a map")?, time }),
        (Some(time), Some(space), None) | (Some(time), None, Some(space)) => {
            let value = one_value(schema, &values, "a Hovmöller diagram")?;
            Ok(Kind::Hovmoller { time, space, space_is_lat: lat.is_some(), value })
        }
        (Some(time), None, None) if !values.is_empty() => Ok(Kind::TimeSeries { time, values }),
        _ => Err(usage(format!("cannot plot columns {}: {NEEDS}", describe(schema, 0..fields.len())))),
    }
}

/// At most one column of a role.
fn single(schema: &Schema, columns: Vec<usize>, role: &str) -> Result<Option<usize>> {
    match columns.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(usage(format!("cannot plot more than one {role} column: {}", describe(schema, columns)))),
    }
}

fn one_value(schema: &Schema, values: &[usize], what: &str) -> Result<usize> {
    match values {
        [one] => Ok(*one),
        [] => Err(usage(format!("{what} needs one numeric column besides its coordinates; found none"))),
        _ => Err(usage(format!(
            "{what} needs one numeric column besides its coordinates; found {}",
            describe(schema, values.iter().copied())
        ))),
    }
}

/// `name (type), ...` of some columns.
fn describe(schema: &Schema, columns: impl IntoIterator<Item = usize>) -> String {
    let names: Vec<String> =
        columns.into_iter().map(|i| format!("{} ({})", schema.field(i).name(), schema.field(i).data_type())).collect();
    names.join(", ")
}

/// A column's values as f64; NULL, NaN and infinities are `None`.
pub fn numbers(batches: &[RecordBatch], column: usize) -> Result<Vec<Option<f64>>> {
    let mut values = Vec::new();
    for batch in batches {
        let array = cast(batch.column(column), &DataType::Float64)?;
        let array =
            array.as_any().downcast_ref::<Float64Array>().ok_or_else(|| usage("cannot read a column as numbers"))?;
        values.extend(array.iter().map(|v| v.filter(|v| v.is_finite())));
    }
    Ok(values)
}

/// A time or date column as seconds since 1970-01-01T00:00:00Z.
pub fn seconds(batches: &[RecordBatch], column: usize) -> Result<Vec<Option<f64>>> {
    let mut values = Vec::new();
    for batch in batches {
        let array = cast(batch.column(column), &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let array = array
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| usage("cannot read a column as times"))?;
        values.extend(array.iter().map(|v| v.map(|us| us as f64 / 1e6)));
    }
    Ok(values)
}

/// The column's name, with its `units` metadata in parentheses when it has some.
pub fn label(field: &Field) -> String {
    match field.metadata().get("units") {
        Some(units) if !units.is_empty() => format!("{} ({units})", field.name()),
        _ => field.name().clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn schema(columns: &[(&str, DataType)]) -> Schema {
        Schema::new(columns.iter().map(|(name, t)| Field::new(*name, t.clone(), true)).collect::<Vec<_>>())
    }

    fn time() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
    }

    fn kind(columns: &[(&str, DataType)]) -> Kind {
        detect(&schema(columns)).unwrap()
    }

    fn error(columns: &[(&str, DataType)]) -> String {
        crate::error::message(&detect(&schema(columns)).unwrap_err())
    }

    #[test]
    fn time_and_numbers_make_a_time_series() {
        let columns = [("day", DataType::Date32), ("sst", DataType::Float64), ("n", DataType::Int64)];
        assert_eq!(kind(&columns), Kind::TimeSeries { time: 0, values: vec![1, 2] });
        assert_eq!(kind(&[("v", DataType::Float32), ("time", time())]), Kind::TimeSeries { time: 1, values: vec![0] });
    }

    #[test]
    fn lat_lon_and_a_value_make_a_map() {
        let columns = [("Latitude", DataType::Float64), ("lon", DataType::Float32), ("avg(sst)", DataType::Float64)];
        assert_eq!(kind(&columns), Kind::Map { lat: 0, lon: 1, value: 2, time: None });
        let columns =
            [("time", time()), ("lat", DataType::Float64), ("lon", DataType::Float64), ("sst", DataType::Int16)];
        assert_eq!(kind(&columns), Kind::Map { lat: 1, lon: 2, value: 3, time: Some(0) });
    }

    #[test]
    fn time_and_one_coordinate_make_a_hovmoller_diagram() {
        let columns = [("month", time()), ("lat", DataType::Float64), ("sst", DataType::Float64)];
        assert_eq!(kind(&columns), Kind::Hovmoller { time: 0, space: 1, space_is_lat: true, value: 2 });
        let columns = [("longitude", DataType::Float64), ("day", DataType::Date32), ("sst", DataType::Float64)];
        assert_eq!(kind(&columns), Kind::Hovmoller { time: 1, space: 0, space_is_lat: false, value: 2 });
    }

    #[test]
    fn errors_name_the_columns() {
        let err = error(&[("a", DataType::Int64), ("b", DataType::Float64)]);
        assert_eq!(err, format!("cannot plot columns a (Int64), b (Float64): {NEEDS}"));
        let err = error(&[("time", time()), ("platform_id", DataType::Utf8), ("sst", DataType::Float64)]);
        assert!(err.starts_with("cannot plot column platform_id (Utf8): it is neither"), "{err}");
        let err = error(&[
            ("lat", DataType::Float64),
            ("lon", DataType::Float64),
            ("a", DataType::Float64),
            ("b", DataType::Int32),
        ]);
        assert_eq!(err, "a map needs one numeric column besides its coordinates; found a (Float64), b (Int32)");
        let err = error(&[("lat", DataType::Float64), ("lon", DataType::Float64)]);
        assert_eq!(err, "a map needs one numeric column besides its coordinates; found none");
        let err = error(&[("t0", time()), ("t1", DataType::Date32), ("v", DataType::Float64)]);
        assert!(
            err.starts_with("cannot plot more than one time column: t0 (Timestamp(µs, \"UTC\")), t1 (Date32)"),
            "{err}"
        );
        let err = error(&[("time", time())]);
        assert!(err.starts_with("cannot plot columns time ("), "{err}");
    }

    #[test]
    fn values_become_f64_and_seconds() {
        use datafusion::arrow::array::{Date32Array, Int32Array};
        let schema = Arc::new(schema(&[("day", DataType::Date32), ("n", DataType::Int32)]));
        let columns: Vec<Arc<dyn Array>> =
            vec![Arc::new(Date32Array::from(vec![Some(1), None])), Arc::new(Int32Array::from(vec![None, Some(7)]))];
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        assert_eq!(seconds(std::slice::from_ref(&batch), 0).unwrap(), vec![Some(86400.0), None]);
        assert_eq!(numbers(&[batch], 1).unwrap(), vec![None, Some(7.0)]);
    }
}
