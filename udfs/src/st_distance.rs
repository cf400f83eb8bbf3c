//! `st_distance(a, b)`: the planar distance between two geometries.

use std::sync::Arc;

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Geometries, coerce_types, output_rows, planar_distance};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "The planar (Cartesian) distance between two geometries in their units: degrees of lon/lat, not metres, as PostGIS's ST_Distance on geometry; 0 when they intersect. NULL when either is NULL or empty. For metres on the sphere use st_distancesphere.",
    syntax_example = "st_distance(a, b)",
    sql_example = r#"```sql
> SELECT st_distance(st_point(0, 0), st_point(3, 4));
5.0
```"#,
    argument(name = "a", description = "Geometry (WKB, or WKT text)."),
    argument(name = "b", description = "Geometry (WKB, or WKT text).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StDistance {
    signature: Signature,
}

impl Default for StDistance {
    fn default() -> Self {
        Self::new()
    }
}

impl StDistance {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StDistance {
    fn name(&self) -> &str {
        "st_distance"
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
            let (Some(x), Some(y)) = (a.geometry(i)?, b.geometry(i)?) else { return Ok(None) };
            Ok(planar_distance(&x, &y))
        };
        let out = (0..rows).map(distance).collect::<Result<Float64Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
