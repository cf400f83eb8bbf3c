//! `grid_snap(value, resolution)`: the centre of the regular cell holding a value.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::exec_err;
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

#[user_doc(
    doc_section(label = "Oceanographic Functions"),
    description = "Snaps a coordinate to the centre of the cell of a regular grid of the given resolution that holds it: floor(value / resolution) * resolution + resolution / 2. Cells are aligned on 0 (for 1 degree: centres at ..., -0.5, 0.5, 1.5, ...), as on usual global L3/L4 grids. Use it in GROUP BY to bin points, or to join points to grid cells.",
    syntax_example = "grid_snap(value, resolution)",
    sql_example = r#"```sql
> SELECT grid_snap(45.73, 0.25), grid_snap(-0.2, 1);
45.625, -0.5
```"#,
    argument(name = "value", description = "A latitude or longitude, degrees."),
    argument(name = "resolution", description = "Cell size in the same units; must be > 0.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GridSnap {
    signature: Signature,
}

impl Default for GridSnap {
    fn default() -> Self {
        Self::new()
    }
}

impl GridSnap {
    pub fn new() -> Self {
        Self { signature: Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for GridSnap {
    fn name(&self) -> &str {
        "grid_snap"
    }

    fn signature(&self) -> &Signature {
        &self.signature
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
        let [value, resolution] = take_function_args(self.name(), args.args)?;
        let arrays = ColumnarValue::values_to_arrays(&[value, resolution])?;
        let (values, res) = (arrays[0].as_primitive::<Float64Type>(), arrays[1].as_primitive::<Float64Type>());
        let mut out = Vec::with_capacity(values.len());
        for i in 0..values.len() {
            if values.is_null(i) || res.is_null(i) {
                out.push(None);
                continue;
            }
            let r = res.value(i);
            if !(r > 0.0 && r.is_finite()) {
                return exec_err!("grid_snap: argument 'resolution' must be a positive number, got {r}");
            }
            out.push(Some((values.value(i) / r).floor() * r + r / 2.0));
        }
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(out))))
    }
}
