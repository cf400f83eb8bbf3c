//! `haversine_km(lat1, lon1, lat2, lon2)`: great-circle distance in km.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::EARTH_RADIUS_KM;

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "Great-circle distance in kilometres between two points given in degrees, on a sphere of the mean Earth radius (6371.0088 km). NULL if any argument is NULL.",
    syntax_example = "haversine_km(lat1, lon1, lat2, lon2)",
    sql_example = r#"```sql
> SELECT round(haversine_km(0, 0, 0, 1), 3);
111.195
```"#,
    argument(name = "lat1", description = "Latitude of the first point, degrees north."),
    argument(name = "lon1", description = "Longitude of the first point, degrees east."),
    argument(name = "lat2", description = "Latitude of the second point, degrees north."),
    argument(name = "lon2", description = "Longitude of the second point, degrees east.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HaversineKm {
    signature: Signature,
}

impl Default for HaversineKm {
    fn default() -> Self {
        Self::new()
    }
}

impl HaversineKm {
    pub fn new() -> Self {
        Self { signature: Signature::uniform(4, vec![DataType::Float64], Volatility::Immutable) }
    }
}

/// The haversine formula, numerically stable for small distances.
pub fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

impl ScalarUDFImpl for HaversineKm {
    fn name(&self) -> &str {
        "haversine_km"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [a, b, c, d] = take_function_args(self.name(), args.args)?;
        let arrays = ColumnarValue::values_to_arrays(&[a, b, c, d])?;
        let [lat1, lon1, lat2, lon2] = [0, 1, 2, 3].map(|i| arrays[i].as_primitive::<Float64Type>());
        let out: Float64Array = (0..rows.max(lat1.len()))
            .map(|i| {
                let any_null = [lat1, lon1, lat2, lon2].iter().any(|x| x.is_null(i));
                (!any_null).then(|| haversine(lat1.value(i), lon1.value(i), lat2.value(i), lon2.value(i)))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        // One degree of longitude on the equator: R * pi / 180.
        assert!((haversine(0.0, 0.0, 0.0, 1.0) - EARTH_RADIUS_KM * std::f64::consts::PI / 180.0).abs() < 1e-9);
        // Pole to pole: half the circumference.
        assert!((haversine(90.0, 0.0, -90.0, 0.0) - EARTH_RADIUS_KM * std::f64::consts::PI).abs() < 1e-6);
        // Across the antimeridian: 179.5E to 179.5W is one degree.
        assert!((haversine(0.0, 179.5, 0.0, -179.5) - haversine(0.0, 0.0, 0.0, 1.0)).abs() < 1e-9);
        assert_eq!(haversine(12.3, 45.6, 12.3, 45.6), 0.0);
    }
}
