//! `st_area(geom)`: the planar area of a geometry.

use std::sync::Arc;

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;
use geo::Area;

use crate::geometry::{Arg, Geometries, coerce_types, output_rows};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "The planar area of a geometry in its units squared: square degrees of lon/lat, not km², as PostGIS's ST_Area on geometry; holes are subtracted; 0 for points, lines and empty geometries. NULL if the geometry is NULL.",
    syntax_example = "st_area(geom)",
    sql_example = r#"```sql
> SELECT st_area(st_makeenvelope(0, 0, 2, 3));
6.0
```"#,
    argument(name = "geom", description = "Geometry (WKB, or WKT text).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StArea {
    signature: Signature,
}

impl Default for StArea {
    fn default() -> Self {
        Self::new()
    }
}

impl StArea {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StArea {
    fn name(&self) -> &str {
        "st_area"
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
        let out = (0..rows).map(|i| Ok(g.geometry(i)?.map(|g| g.unsigned_area()))).collect::<Result<Float64Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
