//! `st_intersects(a, b)`: whether two geometries share any point.

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Relation, coerce_types, relate};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "Whether two geometries share any point, boundaries included (a point on a polygon's edge intersects it), as PostGIS's ST_Intersects; planar. False when either is empty, NULL when either is NULL. A filter st_intersects(st_point(lon, lat), <constant geometry>) on a table also limits the scan to the geometry's bounding box.",
    syntax_example = "st_intersects(a, b)",
    sql_example = r#"```sql
> SELECT st_intersects(st_point(10, 0), st_makeenvelope(0, 0, 10, 10));
true
```"#,
    argument(name = "a", description = "Geometry (WKB, or WKT text)."),
    argument(name = "b", description = "Geometry (WKB, or WKT text).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StIntersects {
    signature: Signature,
}

impl Default for StIntersects {
    fn default() -> Self {
        Self::new()
    }
}

impl StIntersects {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StIntersects {
    fn name(&self) -> &str {
        "st_intersects"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Geometry, Arg::Geometry])
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
        relate(self.name(), args, Relation::Intersects)
    }
}
