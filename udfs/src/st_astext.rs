//! `st_astext(geom)`: a geometry as Well-Known Text.

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_datafusion_err;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::geometry::{Arg, Geometries, coerce_types, output_rows, read_wkb};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "The Well-Known Text of a geometry, as PostGIS's ST_AsText: no space before the parenthesis, coordinates in the shortest form that reads back exactly (PostGIS rounds to 15 digits). NULL if the geometry is NULL.",
    syntax_example = "st_astext(geom)",
    sql_example = r#"```sql
> SELECT st_astext(st_makeenvelope(0, 0, 1, 2));
POLYGON((0 0,0 2,1 2,1 0,0 0))
```"#,
    argument(name = "geom", description = "Geometry (WKB, or WKT text).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StAsText {
    signature: Signature,
}

impl Default for StAsText {
    fn default() -> Self {
        Self::new()
    }
}

impl StAsText {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StAsText {
    fn name(&self) -> &str {
        "st_astext"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Geometry])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
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
        let text = |bytes: &[u8]| -> Result<String> {
            let mut s = String::new();
            wkt::to_wkt::write_geometry(&mut s, &read_wkb(self.name(), bytes)?)
                .map_err(|e| exec_datafusion_err!("{}: cannot write WKT: {e}", self.name()))?;
            Ok(s)
        };
        let out = (0..rows).map(|i| g.wkb(i).map(text).transpose()).collect::<Result<StringArray>>()?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
