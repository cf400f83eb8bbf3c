//! `st_contains(a, b)`: whether no point of b lies outside a and their interiors meet.

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Relation, coerce_types, relate};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "Whether no point of B lies outside A and their interiors meet, as PostGIS's ST_Contains: a polygon does not contain a point on its edge. Planar. False when either is empty, NULL when either is NULL. st_contains(<constant geometry>, st_point(lon, lat)) as a filter limits the scan to the geometry's bounding box.",
    syntax_example = "st_contains(a, b)",
    sql_example = r#"```sql
> SELECT st_contains(st_makeenvelope(0, 0, 10, 10), st_point(10, 0));
false
```"#,
    argument(name = "a", description = "Geometry (WKB, or WKT text)."),
    argument(name = "b", description = "Geometry (WKB, or WKT text).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StContains {
    signature: Signature,
}

impl Default for StContains {
    fn default() -> Self {
        Self::new()
    }
}

impl StContains {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StContains {
    fn name(&self) -> &str {
        "st_contains"
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
        relate(self.name(), args, Relation::Contains)
    }
}
