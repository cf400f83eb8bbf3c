//! `st_point(x, y)`: a point from its coordinates (x = longitude, y = latitude).

use std::sync::Arc;

use datafusion::arrow::array::BinaryArray;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Numbers, coerce_types, geometry_field, output_rows, to_wkb};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "A point geometry (WKB) from its x and y coordinates, as PostGIS's ST_Point: x is the longitude, y the latitude, in degrees. NULL if either is NULL; NaN coordinates give POINT EMPTY.",
    syntax_example = "st_point(x, y)",
    sql_example = r#"```sql
> SELECT st_astext(st_point(-20.5, 10));
POINT(-20.5 10)
```"#,
    argument(name = "x", description = "Longitude, degrees east."),
    argument(name = "y", description = "Latitude, degrees north.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StPoint {
    signature: Signature,
}

impl Default for StPoint {
    fn default() -> Self {
        Self::new()
    }
}

impl StPoint {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StPoint {
    fn name(&self) -> &str {
        "st_point"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Number, Arg::Number])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(geometry_field(self.name()))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = output_rows(&args);
        let [x, y] = take_function_args(self.name(), args.args)?;
        let (x, y) = (Numbers::new(&x)?, Numbers::new(&y)?);
        let out: BinaryArray = (0..rows).map(|i| Some(to_wkb(&geo::Point::new(x.get(i)?, y.get(i)?).into()))).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
