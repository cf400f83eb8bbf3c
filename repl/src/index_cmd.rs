//! `oceanql index`: builds or refreshes the granule/tile index of the
//! NetCDF and Zarr tables a catalog (SQL files, commands) creates.

use std::path::PathBuf;
use std::time::Instant;

use datafusion::error::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oceanql_engine::indexing::{self, ProductSpec};

use crate::catalog;
use crate::error::usage;
use crate::exec::run_catalog;

/// What to index.
pub struct IndexArgs {
    pub files: Vec<PathBuf>,
    pub commands: Vec<String>,
    pub tables: Vec<String>,
    pub quiet: bool,
}

/// Runs the catalog, then indexes the tables asked for (all NetCDF/Zarr tables by default).
pub async fn run(args: IndexArgs) -> Result<()> {
    if args.files.is_empty() && args.commands.is_empty() {
        return Err(usage("oceanql index needs the tables' catalog: -f catalog.sql and/or -c 'CREATE EXTERNAL TABLE ...'"));
    }
    // CREATE only records the tables' definitions: indexing reads their granules once, below.
    let config = datafusion::prelude::SessionConfig::new().with_extension(std::sync::Arc::new(indexing::RegisterOnly));
    let ctx = oceanql_engine::session::create_context_with(config)?;
    run_catalog(&ctx, &args.files, &args.commands).await?;
    let specs = chosen(&ctx, &args.tables).await?;
    for (name, spec) in specs {
        index_one(&name, spec, args.quiet).await?;
    }
    Ok(())
}

/// The tables to index, by name, with what they were created from.
async fn chosen(ctx: &datafusion::prelude::SessionContext, names: &[String]) -> Result<Vec<(String, ProductSpec)>> {
    let tables = catalog::tables(ctx).await?;
    let indexable: Vec<(String, ProductSpec)> =
        tables.iter().filter_map(|t| oceanql_engine::product_spec(&t.provider).map(|s| (t.name.clone(), s.clone()))).collect();
    if names.is_empty() {
        if indexable.is_empty() {
            return Err(usage("the catalog creates no NetCDF or Zarr table to index"));
        }
        return Ok(indexable);
    }
    names
        .iter()
        .map(|n| match (indexable.iter().find(|(t, _)| t == n), tables.iter().any(|t| &t.name == n)) {
            (Some(found), _) => Ok(found.clone()),
            (None, true) => Err(usage(format!("table '{n}' is not a NetCDF or Zarr table: only those have a granule index"))),
            (None, false) => Err(usage(format!(
                "no table '{n}' in the catalog (tables: {})",
                tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        })
        .collect()
}

/// Indexes one table, with a progress bar on a terminal.
async fn index_one(name: &str, spec: ProductSpec, quiet: bool) -> Result<()> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} granules, {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    let progress = bar.clone();
    let built = tokio::task::spawn_blocking(move || {
        indexing::build_index(&spec, &|done, total| {
            progress.set_length(total as u64);
            progress.set_position(done as u64);
        })
    })
    .await
    .map_err(|e| usage(format!("indexing {name}: {e}")))?;
    bar.finish_and_clear();
    let (dir, refresh, index) = built.map_err(|e| usage(format!("indexing table {name}: {}", e.message())))?;
    let tiles: usize = index.granules.iter().map(|g| g.tiles.len()).sum();
    if !quiet {
        println!(
            "{name}: {} granules ({}), {tiles} tiles with statistics of {} -> {dir} ({:.1} s)",
            index.granules.len(),
            refresh.summary(),
            if index.vars.is_empty() { "no variable".to_string() } else { index.vars.join(", ") },
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
