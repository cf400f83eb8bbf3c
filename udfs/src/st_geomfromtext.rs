//! `st_geomfromtext(wkt)`: a geometry from Well-Known Text.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Geometries, coerce_types, geometry_field};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "The geometry (WKB) a Well-Known Text describes, as PostGIS's ST_GeomFromText (without its SRID argument): POINT, LINESTRING, POLYGON, their MULTI forms and GEOMETRYCOLLECTION, with Z or M coordinates and EMPTY. Invalid WKT is an error naming the text. NULL if the text is NULL.",
    syntax_example = "st_geomfromtext(wkt)",
    sql_example = r#"```sql
> SELECT st_area(st_geomfromtext('POLYGON((0 0,2 0,2 2,0 2,0 0))'));
4.0
```"#,
    argument(name = "wkt", description = "Well-Known Text, e.g. POLYGON((0 0,1 0,1 1,0 0)).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StGeomFromText {
    signature: Signature,
}

impl Default for StGeomFromText {
    fn default() -> Self {
        Self::new()
    }
}

impl StGeomFromText {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StGeomFromText {
    fn name(&self) -> &str {
        "st_geomfromtext"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Text])
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
        let [text] = take_function_args(self.name(), args.args)?;
        let wkb = Geometries::new(self.name(), &text)?.into_wkb();
        Ok(ColumnarValue::Array(Arc::new(wkb)))
    }
}
