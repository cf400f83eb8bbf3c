//! From LOCATIONs to a product's index: list the granules, reuse the index
//! entries of those unchanged since it was written (same size and
//! modification time), build the others, drop the removed ones.
//!
//! Creating a table does this without statistics (a product without an
//! index still works: footprints and bounds are computed then and kept in
//! memory); `oceanql index` does it with statistics and writes the result.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::error::Result;
use oceanql_connectors::sample::{CoordNames, Pattern, SampleLayout};
use oceanql_connectors::{ArraySource, GridInfo, GridReader, location, store};

use crate::grid_table::{GridFormat, GridProduct, check_same_grid, product_schema as grid_schema};
use crate::index::{self, IndexedGranule, ProductIndex, Version};
use crate::index_store;
use crate::sample_table::{self, BLOCK_ROWS, SampleProduct};
use crate::tile_stats::VarStats;

/// Where a product's index is kept (OPTIONS 'index').
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexSetting {
    /// `.oceanql-index/` beside the data.
    Beside,
    /// A directory (local or s3://) named by the user.
    At(String),
    /// `'none'`: no index is read or written.
    Off,
}

/// What defines a product: format, LOCATIONs and the options that change its rows.
#[derive(Clone, Debug)]
pub struct ProductSpec {
    pub format: GridFormat,
    /// The pattern named in OPTIONS, if any.
    pub pattern: Option<Pattern>,
    pub locations: Vec<String>,
    pub names: CoordNames,
    pub index: IndexSetting,
    /// Tile size (OPTIONS 'tile_size' 'AxB'): lines x cells of a swath, lat x lon cells of a grid.
    pub tile_size: Option<(usize, usize)>,
}

impl ProductSpec {
    /// The text that identifies the product (hashed into its index directory name).
    pub fn key(&self) -> String {
        let n = &self.names;
        format!(
            "{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.format.name(),
            self.locations.iter().map(|l| canonical_location(l)).collect::<Vec<_>>().join("\n"),
            self.pattern.map_or("", |p| p.name()),
            n.time,
            n.lat,
            n.lon,
            n.depth,
            n.platform_id,
            self.tile_size
        )
    }

    /// The directory of the product's index; `None` when indexing is off.
    pub fn index_dir(&self) -> Option<String> {
        match &self.index {
            IndexSetting::Beside => Some(index_store::default_location(&self.locations, &self.key())),
            IndexSetting::At(dir) => Some(dir.clone()),
            IndexSetting::Off => None,
        }
    }

    pub fn location(&self) -> String {
        self.locations.join(", ")
    }
}

/// A local path made absolute with symbolic links resolved (as given when
/// that fails, and for object storage URLs): how the index recognises a file
/// whatever the directory `oceanql` runs in.
fn canonical(path: &str) -> String {
    if store::is_remote(path) {
        return path.to_string();
    }
    let local = path.strip_prefix("file://").unwrap_or(path);
    std::fs::canonicalize(local).map_or_else(|_| path.to_string(), |p| p.to_string_lossy().into_owned())
}

/// A LOCATION with its fixed directory (the part before any glob) made canonical.
fn canonical_location(location: &str) -> String {
    if !location.contains('/') && !store::is_remote(location) {
        return canonical_location(&format!("./{location}"));
    }
    let fixed = location.split(['*', '?', '[']).next().unwrap_or(location);
    match fixed.rfind('/') {
        Some(i) if fixed.len() < location.len() => format!("{}{}", canonical(&location[..i.max(1)]), &location[i..]),
        _ => canonical(location),
    }
}

/// The stored entries by canonical path.
fn by_canonical_path(stored: Option<&ProductIndex>) -> HashMap<String, &IndexedGranule> {
    stored.map_or_else(HashMap::new, |s| s.granules.iter().map(|g| (canonical(&g.granule), g)).collect())
}

/// What a refresh did, by granule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refresh {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

impl Refresh {
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} changed, {} removed, {} unchanged",
            self.added.len(),
            self.changed.len(),
            self.removed.len(),
            self.unchanged
        )
    }
}

/// A product's index entries brought up to date, and the granules opened to do it.
pub struct Collected {
    pub index: ProductIndex,
    pub refresh: Refresh,
    /// A grid product's first granule, opened (it defines the grid and the schema).
    pub first_grid: Option<GridInfo>,
}

/// Lists the product's granules and brings their index entries up to date:
/// kept from the stored index when unchanged (and with statistics when
/// `stats` asks for them), else read from the granule. `progress(done, total)`
/// is called after each granule.
pub fn collect(spec: &ProductSpec, stats: bool, progress: &dyn Fn(usize, usize)) -> Result<Collected> {
    let paths = spec.format.list_all(&spec.locations)?;
    let Some(first) = paths.first() else {
        return plan_err!("no granules found at {}", spec.location());
    };
    let index_dir = spec.index_dir();
    // Versions tell whether a stored entry still holds; with no index at all, and nothing to
    // write, they are not needed. They are walked (a Zarr store's every chunk) while the
    // stored index is read.
    let versions_of = || paths.iter().map(|p| location::version(p).map(|(size, modified)| Version { size, modified })).collect::<Result<Vec<_>>>();
    let (stored, versions) = match &index_dir {
        None if !stats => (None, vec![Version::default(); paths.len()]),
        None => (None, versions_of()?),
        Some(dir) => std::thread::scope(|s| {
            let walk = s.spawn(versions_of);
            let stored = index_store::read(dir);
            let versions = walk.join().unwrap_or_else(|_| plan_err!("{}: the walk of its files panicked", spec.location()));
            Ok::<_, datafusion::error::DataFusionError>((stored?, versions?))
        })?,
    };
    let pattern = match (spec.pattern, &stored) {
        (Some(p), _) => p,
        (None, Some(s)) => s.pattern,
        (None, None) => spec.format.detect_pattern(first)?,
    };
    let stored = stored.filter(|s| s.pattern == pattern);
    let mut collected = if pattern == Pattern::Grid {
        collect_grid(spec, &paths, &versions, stored.as_ref(), stats, progress)?
    } else {
        collect_sample(spec, pattern, &paths, &versions, stored.as_ref(), stats, progress)?
    };
    collected.refresh.removed = removed(stored.as_ref(), &paths);
    Ok(collected)
}

/// Granules of the stored index no longer listed.
fn removed(stored: Option<&ProductIndex>, paths: &[String]) -> Vec<String> {
    let listed: std::collections::HashSet<String> = paths.iter().map(|p| canonical(p)).collect();
    stored.map_or(vec![], |s| s.granules.iter().filter(|g| !listed.contains(&canonical(&g.granule))).map(|g| g.granule.clone()).collect())
}

/// The stored entry of `path` if it can be kept (renamed to `path`), and records what happened in `refresh`.
fn reuse(stored: &HashMap<String, &IndexedGranule>, path: &str, version: Version, stats: bool, refresh: &mut Refresh) -> Option<IndexedGranule> {
    match stored.get(&canonical(path)) {
        Some(g) if g.version == version && (g.has_stats || !stats) => {
            refresh.unchanged += 1;
            let mut kept = (*g).clone();
            kept.granule = path.to_string();
            return Some(kept);
        }
        Some(g) if g.version == version => refresh.changed.push(format!("{path} (statistics added)")),
        Some(_) => refresh.changed.push(path.to_string()),
        None => refresh.added.push(path.to_string()),
    }
    None
}

fn collect_grid(
    spec: &ProductSpec,
    paths: &[String],
    versions: &[Version],
    stored: Option<&ProductIndex>,
    stats: bool,
    progress: &dyn Fn(usize, usize),
) -> Result<Collected> {
    let first: Arc<dyn GridReader> = spec.format.open(&paths[0])?;
    let info = first.info().clone();
    let vars = index::grid_stat_vars(&info);
    let stored = by_canonical_path(stored.filter(|s| s.vars == vars));
    let stat_vars = stats.then_some(vars.as_slice());
    let mut refresh = Refresh::default();
    let kept: Vec<Option<IndexedGranule>> =
        paths.iter().zip(versions).map(|(path, &version)| reuse(&stored, path, version, stats, &mut refresh)).collect();
    // Entries kept were checked against the first granule of their time; the first may have changed.
    let shape = |dims: &str| dims.split(", ").filter(|d| !d.starts_with("time=")).collect::<Vec<_>>().join(", ");
    let first_shape = shape(&index::grid_dimensions(&info));
    if let Some(g) = kept.iter().flatten().find(|g| shape(&g.dimensions) != first_shape) {
        return plan_err!(
            "{}: grid differs from the first granule {} of this product: {} instead of {first_shape}",
            g.granule,
            info.granule,
            shape(&g.dimensions)
        );
    }
    let todo: Vec<usize> = (0..paths.len()).filter(|&i| kept[i].is_none()).collect();
    let built = in_parallel(&todo, paths.len() - todo.len(), paths.len(), progress, |&i| {
        let reader = if i == 0 { first.clone() } else { spec.format.open(&paths[i])? };
        check_same_grid(&info, reader.info())?;
        index::grid_granule(reader.as_ref(), versions[i], spec.tile_size, stat_vars)
    })?;
    let granules = merge(kept, todo, built);
    let (schema, _) = grid_schema(&info);
    let index = ProductIndex { pattern: Pattern::Grid, slice_names: index::grid_slice_names(&info), vars, schema, granules };
    Ok(Collected { index, refresh, first_grid: Some(info) })
}

#[allow(clippy::too_many_arguments)]
fn collect_sample(
    spec: &ProductSpec,
    pattern: Pattern,
    paths: &[String],
    versions: &[Version],
    stored: Option<&ProductIndex>,
    stats: bool,
    progress: &dyn Fn(usize, usize),
) -> Result<Collected> {
    let mut refresh = Refresh::default();
    let mut opened: Vec<(usize, Arc<dyn ArraySource>, SampleLayout)> = Vec::new();
    let mut granules: Vec<Option<IndexedGranule>> = Vec::with_capacity(paths.len());
    let by_path = by_canonical_path(stored);
    for (path, &version) in paths.iter().zip(versions) {
        let kept = reuse(&by_path, path, version, stats, &mut refresh);
        if kept.is_none() {
            let src = spec.format.open_source(path)?;
            let layout = SampleLayout::new(src.as_ref(), pattern, &spec.names)?;
            opened.push((granules.len(), src, layout));
        }
        granules.push(kept);
    }
    if let Some((_, _, first)) = opened.first() {
        for (_, _, other) in &opened[1..] {
            sample_table::check_compatible(first, other)?;
        }
    }
    // Variables with statistics: the stored ones, then those only the opened granules have.
    let mut vars = stored.map_or(vec![], |s| s.vars.clone());
    for (_, _, layout) in &opened {
        for v in index::sample_stat_vars(layout) {
            if !vars.contains(&v) {
                vars.push(v);
            }
        }
    }
    let stat_vars = stats.then_some(vars.as_slice());
    let built = in_parallel(&opened, paths.len() - opened.len(), paths.len(), progress, |(i, src, layout)| {
        index::sample_granule(src.as_ref(), layout, BLOCK_ROWS, spec.tile_size, versions[*i], stat_vars)
    })?;
    let mut granules = merge(granules, opened.iter().map(|(i, _, _)| *i).collect(), built);
    if let Some(s) = stored {
        remap_stats(&mut granules, &s.vars, &vars);
    }
    let layouts: Vec<&SampleLayout> = opened.iter().map(|(_, _, l)| l).collect();
    let schema = sample_table::merged_schema(stored.map(|s| &s.schema), &layouts)?;
    let slice_names = match (layouts.first(), stored) {
        (Some(l), _) => l.index_names.iter().map(|s| s.to_string()).collect(),
        (None, Some(s)) => s.slice_names.clone(),
        (None, None) => return plan_err!("no granules found at {}", spec.location()),
    };
    let index = ProductIndex { pattern, slice_names, vars, schema, granules };
    Ok(Collected { index, refresh, first_grid: None })
}

/// `f` over `items` on every core, results in order; `progress(done, total)`
/// counts from `done_before` as items finish.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    done_before: usize,
    total: usize,
    progress: &dyn Fn(usize, usize),
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len()).max(1);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(done_before);
    let (sender, receiver) = std::sync::mpsc::channel();
    let results: Vec<Option<Result<R>>> = std::thread::scope(|scope| {
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, f) = (&next, &f);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let failed = {
                        let r = f(item);
                        let failed = r.is_err();
                        let _ = sender.send((i, r));
                        failed
                    };
                    if failed {
                        next.store(items.len(), Ordering::Relaxed);
                    }
                }
            });
        }
        drop(sender);
        let mut results: Vec<Option<Result<R>>> = (0..items.len()).map(|_| None).collect();
        for (i, r) in receiver {
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            results[i] = Some(r);
        }
        results
    });
    if let Some(Some(Err(_))) = results.iter().find(|r| matches!(r, Some(Err(_)))) {
        let first_error = results.into_iter().flatten().find_map(Result::err);
        return Err(first_error.unwrap_or_else(|| plan_datafusion_err!("indexing failed")));
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| plan_err!("indexing stopped early"))).collect()
}

/// The entries kept, with the `built` ones put at their positions `at`.
fn merge(mut kept: Vec<Option<IndexedGranule>>, at: Vec<usize>, built: Vec<IndexedGranule>) -> Vec<IndexedGranule> {
    for (i, g) in at.into_iter().zip(built) {
        kept[i] = Some(g);
    }
    kept.into_iter().flatten().collect()
}

/// Puts the statistics of entries kept from an index with variables `from`
/// in the order of `to` (a variable they lack has none: count 0).
fn remap_stats(granules: &mut [IndexedGranule], from: &[String], to: &[String]) {
    if from == to {
        return;
    }
    let at: HashMap<&str, usize> = from.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect();
    for g in granules.iter_mut() {
        for t in g.tiles.iter_mut().filter(|t| t.stats.len() == from.len() && !from.is_empty()) {
            t.stats = to.iter().map(|v| at.get(v.as_str()).map_or(VarStats { sum: 0.0, ..VarStats::EMPTY }, |&i| t.stats[i])).collect();
        }
    }
}

/// Builds the table of a product from its up-to-date entries.
pub fn open_product(spec: &ProductSpec) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let collected = collect(spec, false, &|_, _| {})?;
    table_from(spec, collected)
}

/// The table provider of collected entries.
pub fn table_from(spec: &ProductSpec, collected: Collected) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let index = Arc::new(collected.index);
    match collected.first_grid {
        Some(first) => Ok(Arc::new(crate::grid_table::GridTable::new(GridProduct::from_index(spec.clone(), first, index)?))),
        None => Ok(Arc::new(sample_table::SampleTable::new(SampleProduct::from_index(spec.clone(), index)?))),
    }
}

/// Builds (or refreshes) the index of a product with statistics and writes it.
pub fn build_index(spec: &ProductSpec, progress: &dyn Fn(usize, usize)) -> Result<(String, Refresh, ProductIndex)> {
    let dir = spec.index_dir().ok_or_else(|| plan_datafusion_err!("it has OPTIONS ('index' 'none'): no index to build for {}", spec.location()))?;
    let mut collected = collect(spec, true, progress)?;
    // Stored under canonical paths, so that the index serves any working directory.
    for g in &mut collected.index.granules {
        g.granule = canonical(&g.granule);
    }
    index_store::write(&dir, &collected.index)?;
    Ok((dir, collected.refresh, collected.index))
}

/// A session extension (`SessionConfig::with_extension`) for `oceanql index`:
/// CREATE EXTERNAL TABLE then only records what a NetCDF/Zarr table is made
/// of ([`SpecOnly`]), without reading its granules, which indexing does next.
#[derive(Debug, Default)]
pub struct RegisterOnly;

/// A table registered under [`RegisterOnly`]: its definition, no rows.
#[derive(Debug)]
pub struct SpecOnly {
    pub spec: ProductSpec,
}

#[async_trait::async_trait]
impl datafusion::catalog::TableProvider for SpecOnly {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        Arc::new(datafusion::arrow::datatypes::Schema::empty())
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        datafusion::datasource::TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn datafusion::catalog::Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[datafusion::logical_expr::Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        plan_err!("the table over {} is registered for indexing only", self.spec.location())
    }
}
