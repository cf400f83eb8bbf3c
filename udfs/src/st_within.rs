//! `st_within(a, b)`: whether a lies within b.

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Relation, coerce_types, relate};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "Whether A lies within B: st_within(a, b) = st_contains(b, a), as PostGIS's ST_Within; a point on a polygon's edge is not within it. Planar. False when either is empty, NULL when either is NULL. st_within(st_point(lon, lat), <constant geometry>) as a filter limits the scan to the geometry's bounding box.",
    syntax_example = "st_within(a, b)",
    sql_example = r#"```sql
> SELECT st_within(st_point(5, 5), st_makeenvelope(0, 0, 10, 10));
true
```"#,
    argument(name = "a", description = "Geometry (WKB, or WKT text)."),
    argument(name = "b", description = "Geometry (WKB, or WKT text).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StWithin {
    signature: Signature,
}

impl Default for StWithin {
    fn default() -> Self {
        Self::new()
    }
}

impl StWithin {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StWithin {
    fn name(&self) -> &str {
        "st_within"
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
        relate(self.name(), args, Relation::Within)
    }
}
