//! `st_x(point)`: the x coordinate (longitude) of a point.

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

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "The x coordinate of a point (longitude, degrees), as PostGIS's ST_X. NULL if the point is NULL or empty; an error for any other geometry.",
    syntax_example = "st_x(point)",
    sql_example = r#"```sql
> SELECT st_x(st_point(-20.5, 10));
-20.5
```"#,
    argument(name = "point", description = "Point geometry (WKB, or WKT text).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StX {
    signature: Signature,
}

impl Default for StX {
    fn default() -> Self {
        Self::new()
    }
}

impl StX {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StX {
    fn name(&self) -> &str {
        "st_x"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Geometry])
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
        let [g] = take_function_args(self.name(), args.args)?;
        let g = Geometries::new(self.name(), &g)?;
        let value = |i: usize| -> Result<Option<f64>> {
            let Some(bytes) = g.wkb(i) else { return Ok(None) };
            Ok(point_xy(self.name(), bytes)?.map(|(x, _)| x))
        };
        let out = (0..rows).map(value).collect::<Result<Float64Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
