//! `st_distancesphere(a, b)`: the great-circle distance in metres between two lon/lat points.

use std::sync::Arc;

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Geometries, coerce_types, output_rows, point_xy};
use crate::haversine_km::haversine;

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "The great-circle distance in metres between two points given in lon/lat degrees, on a sphere of the mean Earth radius 6371008.8 m (as haversine_km; PostGIS's ST_DistanceSphere uses 6370986 m, 3.6e-6 less). Points only (an error for other geometries). NULL when either is NULL or empty.",
    syntax_example = "st_distancesphere(a, b)",
    sql_example = r#"```sql
> SELECT round(st_distancesphere(st_point(0, 0), st_point(1, 0)), 1);
111195.1
```"#,
    argument(name = "a", description = "Point (lon, lat), WKB or WKT text."),
    argument(name = "b", description = "Point (lon, lat), WKB or WKT text.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StDistanceSphere {
    signature: Signature,
}

impl Default for StDistanceSphere {
    fn default() -> Self {
        Self::new()
    }
}

impl StDistanceSphere {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StDistanceSphere {
    fn name(&self) -> &str {
        "st_distancesphere"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Geometry, Arg::Geometry])
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
        let rows = output_rows(&args);
        let [a, b] = take_function_args(self.name(), args.args)?;
        let (a, b) = (Geometries::new(self.name(), &a)?, Geometries::new(self.name(), &b)?);
        let distance = |i: usize| -> Result<Option<f64>> {
            let (Some(p), Some(q)) = (a.wkb(i), b.wkb(i)) else { return Ok(None) };
            let (Some((x1, y1)), Some((x2, y2))) = (point_xy(self.name(), p)?, point_xy(self.name(), q)?) else { return Ok(None) };
            Ok(Some(haversine(y1, x1, y2, x2) * 1000.0))
        };
        let out = (0..rows).map(distance).collect::<Result<Float64Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
