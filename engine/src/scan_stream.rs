//! What the scans of every pattern share: dealing units of work to
//! partitions, and streaming a partition's units read on blocking threads.

use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, internal_err};
use datafusion::error::Result;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

/// The `ExecutionPlan` methods of a scan, a leaf node: no children, no expressions.
#[macro_export]
macro_rules! leaf_exec_methods {
    () => {
        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            vec![]
        }

        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            ) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion>,
        ) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        }

        fn replace_children(
            self: std::sync::Arc<Self>,
            _children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
            _options: datafusion::physical_plan::ReplaceChildrenOptions,
        ) -> datafusion::error::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            Ok(self)
        }

        fn with_new_children(
            self: std::sync::Arc<Self>,
            children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
        ) -> datafusion::error::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            use datafusion::physical_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
            self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
        }
    };
}

/// Reads one unit of work into a record batch (file access: runs on a blocking thread).
pub trait UnitReader<U>: Send + 'static {
    fn read(&mut self, unit: &U) -> Result<RecordBatch>;
}

/// Deals units to `n` partitions in contiguous runs, so that each granule is opened by few partitions.
pub fn split<U: Clone>(units: Vec<U>, n: usize) -> Vec<Arc<Vec<U>>> {
    let n = n.min(units.len()).max(1);
    let per = units.len().div_ceil(n).max(1);
    let mut parts: Vec<Arc<Vec<U>>> = units.chunks(per).map(|c| Arc::new(c.to_vec())).collect();
    if parts.is_empty() {
        parts.push(Arc::new(Vec::new()));
    }
    parts
}

/// Streams the batches of `units` in order, each read by `reader` on a blocking
/// thread, stopping after `limit` rows or the first error.
pub fn unit_stream<U, R>(schema: SchemaRef, units: Arc<Vec<U>>, limit: Option<usize>, reader: R) -> SendableRecordBatchStream
where
    U: Clone + Send + Sync + 'static,
    R: UnitReader<U>,
{
    let reader = Arc::new(Mutex::new(reader));
    let read = move |unit: U| match reader.lock() {
        Ok(mut r) => r.read(&unit),
        Err(_) => internal_err!("scan: a previous read panicked"),
    };
    let stream = read_units(units, limit, RecordBatch::num_rows, read);
    Box::pin(RecordBatchStreamAdapter::new(schema, stream))
}

/// Reads `units` in order, each on a blocking thread; stops after the first error, or once the
/// outputs hold `limit` rows (as `rows` counts them). Without a limit the next unit is read
/// while the current one is processed downstream (one read ahead).
pub fn read_units<U, T, F>(
    units: Arc<Vec<U>>,
    limit: Option<usize>,
    rows: fn(&T) -> usize,
    read: F,
) -> futures::stream::BoxStream<'static, Result<T>>
where
    U: Clone + Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(U) -> Result<T> + Clone + Send + Sync + 'static,
{
    let read_one = move |unit: U| {
        let read = read.clone();
        async move {
            tokio::task::spawn_blocking(move || read(unit)).await.map_err(|e| DataFusionError::External(Box::new(e))).and_then(|r| r)
        }
    };
    let Some(limit) = limit else {
        let units: Vec<U> = units.iter().cloned().collect();
        return futures::stream::iter(units)
            .map(read_one)
            .buffered(2)
            .scan(false, |failed, out| futures::future::ready((!std::mem::replace(failed, out.is_err())).then_some(out)))
            .fuse()
            .boxed();
    };
    futures::stream::unfold((units, 0usize, 0usize), move |(units, next, produced)| {
        let read_one = read_one.clone();
        async move {
            if next >= units.len() || produced >= limit {
                return None;
            }
            match read_one(units[next].clone()).await {
                Ok(out) => {
                    let produced = produced + rows(&out);
                    Some((Ok(out), (units, next + 1, produced)))
                }
                Err(e) => Some((Err(e), (units, usize::MAX, produced))),
            }
        }
    })
    .fuse()
    .boxed()
}
