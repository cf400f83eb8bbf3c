//! `st_dwithin(a, b, distance)`: whether two geometries are within a planar distance.

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Geometries, Numbers, coerce_types, output_rows, planar_distance};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "Whether the planar distance between two geometries is at most distance, in the geometries' units (degrees of lon/lat, not metres), as PostGIS's ST_DWithin on geometry. False when either is empty, NULL when any argument is NULL; a negative distance is an error. For metres use st_distancesphere(a, b) <= metres.",
    syntax_example = "st_dwithin(a, b, distance)",
    sql_example = r#"```sql
> SELECT st_dwithin(st_point(0, 0), st_point(3, 4), 5);
true
```"#,
    argument(name = "a", description = "Geometry (WKB, or WKT text)."),
    argument(name = "b", description = "Geometry (WKB, or WKT text)."),
    argument(name = "distance", description = "Largest planar distance, degrees.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StDWithin {
    signature: Signature,
}

impl Default for StDWithin {
    fn default() -> Self {
        Self::new()
    }
}

impl StDWithin {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StDWithin {
    fn name(&self) -> &str {
        "st_dwithin"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Geometry, Arg::Geometry, Arg::Number])
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
        let rows = output_rows(&args);
        let [a, b, d] = take_function_args(self.name(), args.args)?;
        let (a, b, d) = (Geometries::new(self.name(), &a)?, Geometries::new(self.name(), &b)?, Numbers::new(&d)?);
        let within = |i: usize| -> Result<Option<bool>> {
            let (Some(x), Some(y), Some(d)) = (a.geometry(i)?, b.geometry(i)?, d.get(i)) else { return Ok(None) };
            if d.is_nan() || d < 0.0 {
                return exec_err!("{}: the distance must not be negative, got {d}", self.name());
            }
            Ok(Some(planar_distance(&x, &y).is_some_and(|dist| dist <= d)))
        };
        let out = (0..rows).map(within).collect::<Result<BooleanArray>>()?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
