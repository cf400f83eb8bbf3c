//! `st_makeenvelope(xmin, ymin, xmax, ymax)`: the rectangle between two corners.

use std::sync::Arc;

use datafusion::arrow::array::BinaryArray;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;
use geo::{LineString, Polygon};

use crate::geometry::{Arg, Numbers, coerce_types, geometry_field, output_rows, to_wkb};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "The rectangular polygon (WKB) from xmin, ymin to xmax, ymax, as PostGIS's ST_MakeEnvelope (without its SRID argument): the ring runs (xmin ymin, xmin ymax, xmax ymax, xmax ymin, xmin ymin). x is the longitude, y the latitude, in degrees. NULL if any argument is NULL.",
    syntax_example = "st_makeenvelope(xmin, ymin, xmax, ymax)",
    sql_example = r#"```sql
> SELECT st_astext(st_makeenvelope(-10, -5, 10, 5));
POLYGON((-10 -5,-10 5,10 5,10 -5,-10 -5))
```"#,
    argument(name = "xmin", description = "West edge, degrees east."),
    argument(name = "ymin", description = "South edge, degrees north."),
    argument(name = "xmax", description = "East edge, degrees east."),
    argument(name = "ymax", description = "North edge, degrees north.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StMakeEnvelope {
    signature: Signature,
}

impl Default for StMakeEnvelope {
    fn default() -> Self {
        Self::new()
    }
}

impl StMakeEnvelope {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StMakeEnvelope {
    fn name(&self) -> &str {
        "st_makeenvelope"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Number, Arg::Number, Arg::Number, Arg::Number])
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
        let args = take_function_args::<4, _>(self.name(), args.args)?;
        let [xmin, ymin, xmax, ymax] = [0, 1, 2, 3].map(|k| Numbers::new(&args[k]));
        let (xmin, ymin, xmax, ymax) = (xmin?, ymin?, xmax?, ymax?);
        let out: BinaryArray = (0..rows)
            .map(|i| {
                let (x0, y0, x1, y1) = (xmin.get(i)?, ymin.get(i)?, xmax.get(i)?, ymax.get(i)?);
                let ring = LineString::from(vec![(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)]);
                Some(to_wkb(&Polygon::new(ring, vec![]).into()))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
