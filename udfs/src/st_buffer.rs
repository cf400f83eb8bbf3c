//! `st_buffer(geom, radius)`: the region within a planar distance of a geometry.

use std::sync::Arc;

use datafusion::arrow::array::BinaryArray;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::exec_err;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;
use geo::{Buffer, Geometry, HasDimensions, LineString, Polygon};

use crate::geometry::{Arg, Geometries, Numbers, coerce_types, geometry_field, output_rows, to_wkb, without_empty_parts};

#[user_doc(
    doc_section(label = "Geospatial Functions"),
    description = "The region within radius of a geometry, planar, in its units (degrees of lon/lat), as PostGIS's ST_Buffer on geometry. Round joins and caps: a circle has 32 segments (PostGIS's default quad_segs=8). A negative radius shrinks polygons; POLYGON EMPTY when nothing is left. A Polygon, or a MultiPolygon when the result has several parts. NULL if either argument is NULL.",
    syntax_example = "st_buffer(geom, radius)",
    sql_example = r#"```sql
> SELECT round(st_area(st_buffer(st_point(0, 0), 1)), 4);
3.1214
```"#,
    argument(name = "geom", description = "Geometry (WKB, or WKT text)."),
    argument(name = "radius", description = "Planar distance, degrees.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StBuffer {
    signature: Signature,
}

impl Default for StBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl StBuffer {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for StBuffer {
    fn name(&self) -> &str {
        "st_buffer"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_types(self.name(), arg_types, &[Arg::Geometry, Arg::Number])
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
        let [g, r] = take_function_args(self.name(), args.args)?;
        let (g, r) = (Geometries::new(self.name(), &g)?, Numbers::new(&r)?);
        let buffered = |i: usize| -> Result<Option<Vec<u8>>> {
            let (Some(g), Some(r)) = (g.geometry(i)?, r.get(i)) else { return Ok(None) };
            Ok(Some(to_wkb(&buffer(self.name(), &g, r)?)))
        };
        let out = (0..rows).map(buffered).collect::<Result<BinaryArray>>()?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `g` buffered by `r` with geo's default round style (0.2 rad per segment: 32 per circle).
fn buffer(name: &str, g: &Geometry, r: f64) -> Result<Geometry> {
    if !r.is_finite() {
        return exec_err!("{name}: the radius must be finite, got {r}");
    }
    let g = without_empty_parts(g);
    let mut parts = if g.is_empty() { vec![] } else { g.buffer(r).0 };
    Ok(match parts.len() {
        0 => Polygon::new(LineString::new(vec![]), vec![]).into(),
        1 => parts.remove(0).into(),
        _ => geo::MultiPolygon::new(parts).into(),
    })
}
