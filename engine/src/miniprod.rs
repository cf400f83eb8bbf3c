//! `miniprod('<table>', '<granule>', row, cell, half_size)`: the miniprod
//! (Felyx's name) of a match-up, the box of (2 half_size + 1) x (2 half_size + 1)
//! pixels of a swath table centred on one pixel, with every column of the
//! table and the offsets `d_row`, `d_cell` from the centre.
//!
//! It is a view of `SELECT *, row - r AS d_row, cell - c AS d_cell FROM t WHERE
//! granule = g AND row BETWEEN r - h AND r + h AND cell BETWEEN c - h AND c + h
//! ORDER BY row, cell`, whose filters the scan takes ([`crate::provenance`]): it
//! reads the one block (or the few) of the one granule that hold the box.

use std::sync::Arc;

use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Column, TableReference, plan_datafusion_err, plan_err};
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use datafusion::scalar::ScalarValue;
use oceanql_connectors::sample::Pattern;

use crate::provenance::GRANULE;
use crate::sample_table::SampleTable;

/// Largest `half_size`: a 101 x 101 box.
pub const MAX_HALF_SIZE: i64 = 50;

const USAGE: &str = "miniprod('<table>', '<granule>', row, cell, half_size)";

/// `miniprod('<table>', '<granule>', row, cell, half_size)`.
#[derive(Debug, Default)]
pub struct Miniprod;

impl TableFunctionImpl for Miniprod {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [table, granule, row, cell, half] = args.exprs() else {
            return plan_err!("miniprod() takes 5 arguments: {USAGE}");
        };
        let table = text_arg("table", table)?;
        let granule = text_arg("granule", granule)?;
        let (row, cell, half) = (int_arg("row", row)?, int_arg("cell", cell)?, int_arg("half_size", half)?);
        if !(0..=MAX_HALF_SIZE).contains(&half) {
            return plan_err!("miniprod(): half_size must be between 0 and {MAX_HALF_SIZE}, not {half}");
        }
        let provider = table_provider(args.session(), &table)?;
        let Some(swath) = provider.downcast_ref::<SampleTable>().filter(|s| s.product().pattern == Pattern::Swath) else {
            let what = crate::table_pattern(&provider).map_or("not a NetCDF or Zarr table".to_string(), |(p, _)| format!("a {p} table"));
            return plan_err!("miniprod(): table '{table}' is {what}, not a swath table");
        };
        let product = swath.product();
        let [row_name, cell_name] = crate::sample_scan::index_names(product).try_into().map_err(|names: Vec<String>| {
            plan_datafusion_err!("miniprod(): table '{table}' has the sample indices ({}), not a row and a cell", names.join(", "))
        })?;
        let granules = product.granules();
        if !granules.iter().any(|g| g.granule == granule) {
            return plan_err!(
                "miniprod(): granule '{granule}' is not one of the {} granules of table '{table}' (see granules('{table}'))",
                granules.len()
            );
        }
        let column = |name: &str| Expr::Column(Column::from_name(name));
        let index = |x: i64| lit(x.clamp(i32::MIN.into(), i32::MAX.into()) as i32);
        let filter = column(GRANULE)
            .eq(lit(granule))
            .and(column(&row_name).between(index(row - half), index(row + half)))
            .and(column(&cell_name).between(index(cell - half), index(cell + half)));
        let mut columns: Vec<Expr> = product.schema.fields().iter().map(|f| column(f.name())).collect();
        columns.push((column(&row_name) - index(row)).alias("d_row"));
        columns.push((column(&cell_name) - index(cell)).alias("d_cell"));
        let plan = LogicalPlanBuilder::scan(TableReference::from(table.as_str()), provider_as_source(provider.clone()), None)?
            .filter(filter)?
            .project(columns)?
            .sort(vec![column(&row_name).sort(true, false), column(&cell_name).sort(true, false)])?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

/// One line for `\df`.
pub const DESCRIPTION: &str = "miniprod('<table>', '<granule>', row, cell, half_size): the (2 half_size + 1)² pixels of a swath around (row, cell), with d_row, d_cell";

/// A text literal argument.
fn text_arg(what: &str, expr: &Expr) -> Result<String> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Ok(s.clone()),
        other => plan_err!("miniprod(): {what} must be a text literal in quotes, not {other} ({USAGE})"),
    }
}

/// An integer literal argument that fits an index (32 bits).
fn int_arg(what: &str, expr: &Expr) -> Result<i64> {
    let value = match expr {
        Expr::Literal(v, _) if v.data_type().is_integer() && !v.is_null() => v.cast_to(&datafusion::arrow::datatypes::DataType::Int64).ok(),
        _ => None,
    };
    match value {
        Some(ScalarValue::Int64(Some(x))) if i32::try_from(x).is_ok() => Ok(x),
        _ => plan_err!("miniprod(): {what} must be an integer literal, not {expr} ({USAGE})"),
    }
}

/// The table `name` of the session.
fn table_provider(session: &dyn Session, name: &str) -> Result<Arc<dyn TableProvider>> {
    let state = session
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| plan_datafusion_err!("miniprod(): no session catalog"))?;
    let reference = TableReference::from(name);
    let schema = state.schema_for_ref(reference.clone()).map_err(|e| plan_datafusion_err!("miniprod(): table '{name}': {e}"))?;
    futures::executor::block_on(schema.table(reference.table()))?.ok_or_else(|| plan_datafusion_err!("miniprod(): no table '{name}'"))
}
