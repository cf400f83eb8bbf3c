//! Runs client statements: each in its own session state cloned from the server's (shared
//! catalog, own memory pool), under the server's limits, streamed batch by batch.

use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use arrow_flight::FlightData;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::Status;

use crate::config::Limits;
use crate::handle::StatementHandle;
use crate::roots::DataRoots;

/// The stream of a DoGet answer.
pub type FlightStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

/// The server's session and the rules every client statement runs under.
pub struct Engine {
    base: SessionContext,
    roots: DataRoots,
    limits: Limits,
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
}

impl Engine {
    pub fn new(base: SessionContext, roots: DataRoots, limits: Limits) -> Self {
        let slots = Arc::new(Semaphore::new(limits.max_queries.max(1)));
        Engine { base, roots, limits, slots, next_id: AtomicU64::new(1) }
    }

    /// The server's own session (catalog look-ups for the metadata calls).
    pub fn base(&self) -> &SessionContext {
        &self.base
    }

    /// A session for one request: the server's catalog (so DDL persists for everyone),
    /// functions and settings, with a memory pool of its own.
    fn request_context(&self) -> SessionContext {
        let state = self.base.state();
        let mut runtime = (**state.runtime_env()).clone();
        if let Some(limit) = self.limits.memory_limit {
            let top = NonZeroUsize::new(3).expect("3 > 0");
            runtime.memory_pool = Arc::new(TrackConsumersPool::new(GreedyMemoryPool::new(limit), top));
        }
        let state = SessionStateBuilder::new_from_existing(state).with_runtime_env(Arc::new(runtime)).build();
        SessionContext::new_with_state(state)
    }

    /// Plans `handle`'s SQL (checking DDL LOCATIONs) with its parameters bound.
    async fn plan(&self, ctx: &SessionContext, handle: &StatementHandle, peer: &str) -> Result<LogicalPlan, Status> {
        let plan = ctx.state().create_logical_plan(&handle.sql).await.map_err(status)?;
        if let Err(refused) = self.roots.check_plan(&plan) {
            eprintln!("statement from {peer} refused: {refused}");
            return Err(Status::permission_denied(refused));
        }
        match handle.parameter_values()? {
            Some(values) => plan.with_param_values(values).map_err(status),
            None => Ok(plan),
        }
    }

    /// The schema the answer of `handle` will have (planned, not run).
    pub async fn schema(&self, handle: &StatementHandle, peer: &str) -> Result<SchemaRef, Status> {
        let plan = self.plan(&self.request_context(), handle, peer).await?;
        Ok(flight_schema(&plan))
    }

    /// A prepared statement's answer schema and the schema of its parameters `$1`, `$2`...
    /// or `$name` (Null where the type cannot be inferred).
    pub async fn prepare(&self, handle: &StatementHandle, peer: &str) -> Result<(SchemaRef, SchemaRef), Status> {
        let plan = self.plan(&self.request_context(), handle, peer).await?;
        let mut types: Vec<(String, DataType)> = plan
            .get_parameter_types()
            .map_err(status)?
            .into_iter()
            .map(|(name, data_type)| (name, data_type.unwrap_or(DataType::Null)))
            .collect();
        types.sort_by_key(|(name, _)| {
            (name.trim_start_matches('$').parse::<usize>().unwrap_or(usize::MAX), name.clone())
        });
        let fields: Vec<_> = types.into_iter().map(|(name, t)| Field::new(name, t, true)).collect();
        Ok((flight_schema(&plan), Arc::new(Schema::new(fields))))
    }

    /// Runs `handle` and streams its answer; the slot, the memory pool and the timeout hold
    /// until the last batch is sent or the client goes away (which cancels the query).
    pub async fn execute(&self, handle: StatementHandle, peer: &str) -> Result<FlightStream, Status> {
        let mut query = self.start(&handle, peer).await?;
        let started = query.started;
        let run = async {
            let ctx = self.request_context();
            let plan = self.plan(&ctx, &handle, peer).await?;
            let schema = flight_schema(&plan);
            let stream =
                ctx.execute_logical_plan(plan).await.map_err(status)?.execute_stream().await.map_err(status)?;
            Ok::<_, Status>((schema, stream))
        };
        let (schema, stream) = query.within_timeout(run).await?;
        let batches = stream.map_err(|e| FlightError::Tonic(Box::new(status(e))));
        let data = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from);
        let deadline = self.limits.query_timeout.map(|t| Box::pin(tokio::time::sleep_until((started + t).into())));
        Ok(Box::pin(Guarded { inner: Some(Box::pin(data)), deadline, query }))
    }

    /// Runs `handle` to its end (DDL, INSERT, COPY...): the number of rows it changed, or -1.
    pub async fn update(&self, handle: StatementHandle, peer: &str) -> Result<i64, Status> {
        let mut query = self.start(&handle, peer).await?;
        let run = async {
            let ctx = self.request_context();
            let plan = self.plan(&ctx, &handle, peer).await?;
            let mut stream =
                ctx.execute_logical_plan(plan).await.map_err(status)?.execute_stream().await.map_err(status)?;
            let counts = is_count(&stream.schema());
            let mut total: i64 = 0;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(status)?;
                if let Some(column) = batch.column(0).as_any().downcast_ref::<UInt64Array>().filter(|_| counts) {
                    total += column.iter().flatten().sum::<u64>() as i64;
                }
            }
            Ok(if counts { total } else { -1 })
        };
        let result = query.within_timeout(run).await;
        query.finish(result.as_ref().err());
        result
    }

    /// Waits for a slot (at most the queue timeout) and logs the statement.
    async fn start(&self, handle: &StatementHandle, peer: &str) -> Result<Query, Status> {
        let waited = Instant::now();
        let permit = tokio::time::timeout(self.limits.queue_timeout, self.slots.clone().acquire_owned()).await;
        let permit = match permit {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(Status::unavailable("the server is shutting down")),
            Err(_) => {
                eprintln!(
                    "query from {peer} refused: no slot free within the queue timeout: {}",
                    one_line(&handle.sql)
                );
                return Err(Status::resource_exhausted(format!(
                    "server busy: {} queries running and none finished within {:.0} s \
                     (the server's --max-queries and --queue-timeout); try again later",
                    self.limits.max_queries,
                    self.limits.queue_timeout.as_secs_f64()
                )));
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let queued = waited.elapsed().as_secs_f64();
        eprintln!("query {id} from {peer} (queued {queued:.2} s): {}", one_line(&handle.sql));
        Ok(Query { id, started: Instant::now(), limits: self.limits.clone(), _permit: permit, done: false, batches: 0 })
    }
}

/// One running statement: its slot, and its log line when it ends.
struct Query {
    id: u64,
    started: Instant,
    limits: Limits,
    _permit: OwnedSemaphorePermit,
    done: bool,
    batches: usize,
}

impl Query {
    async fn within_timeout<T>(&mut self, run: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        let result = match self.limits.query_timeout {
            Some(limit) => match tokio::time::timeout_at((self.started + limit).into(), run).await {
                Ok(result) => result,
                Err(_) => Err(self.timed_out()),
            },
            None => run.await,
        };
        if let Err(err) = &result {
            self.finish(Some(err));
        }
        result
    }

    fn timed_out(&self) -> Status {
        let limit = self.limits.query_timeout.map_or(0.0, |t| t.as_secs_f64());
        Status::deadline_exceeded(format!(
            "query {} cancelled: it ran longer than the server's query timeout ({limit:.0} s, --query-timeout)",
            self.id
        ))
    }

    fn finish(&mut self, error: Option<&Status>) {
        if self.done {
            return;
        }
        self.done = true;
        let secs = self.started.elapsed().as_secs_f64();
        match error {
            None => eprintln!("query {} done in {secs:.2} s", self.id),
            Some(err) => eprintln!("query {} failed after {secs:.2} s: {:?}: {}", self.id, err.code(), err.message()),
        }
    }
}

impl Drop for Query {
    fn drop(&mut self) {
        if !self.done {
            eprintln!(
                "query {} cancelled after {:.2} s: the client went away ({} batches sent)",
                self.id,
                self.started.elapsed().as_secs_f64(),
                self.batches
            );
        }
    }
}

/// A DoGet answer under the query's timeout; dropping it (the client went away) drops the
/// DataFusion stream, which stops the query's tasks.
struct Guarded {
    inner: Option<FlightStream>,
    deadline: Option<Pin<Box<Sleep>>>,
    query: Query,
}

impl Stream for Guarded {
    type Item = Result<FlightData, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.inner = None;
            let err = this.query.timed_out();
            this.query.finish(Some(&err));
            return Poll::Ready(Some(Err(err)));
        }
        match inner.poll_next_unpin(cx) {
            Poll::Ready(None) => {
                this.inner = None;
                this.query.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                this.inner = None;
                this.query.finish(Some(&err));
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(Some(Ok(data))) => {
                this.query.batches += 1;
                Poll::Ready(Some(Ok(data)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The schema clients are told and sent: the plan's (field metadata such as units
/// included), as the Flight encoder will send it (dictionaries hydrated).
pub fn flight_schema(plan: &LogicalPlan) -> SchemaRef {
    let schema = Arc::new(plan.schema().as_arrow().clone());
    let encoder = FlightDataEncoderBuilder::new().with_schema(schema.clone()).build(futures::stream::empty());
    encoder.known_schema().unwrap_or(schema)
}

fn is_count(schema: &SchemaRef) -> bool {
    schema.fields().len() == 1 && schema.field(0).name() == "count" && schema.field(0).data_type() == &DataType::UInt64
}

fn one_line(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 { format!("{}...", line.chars().take(200).collect::<String>()) } else { line }
}

/// The gRPC status of a DataFusion error: the code says whose fault it is, the message is
/// DataFusion's.
pub fn status(err: DataFusionError) -> Status {
    let message = match &err {
        DataFusionError::External(inner) => inner.to_string(),
        other => other.to_string(),
    };
    match err.find_root() {
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
        DataFusionError::NotImplemented(_) => Status::unimplemented(message),
        DataFusionError::Internal(_) => Status::internal(message),
        _ => Status::invalid_argument(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    async fn engine() -> Engine {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a BIGINT, b DOUBLE) AS VALUES (1, 2.0)").await.unwrap().collect().await.unwrap();
        Engine::new(ctx, DataRoots::default(), Limits::default())
    }

    #[tokio::test]
    async fn prepare_gives_parameters_in_order() {
        let handle = StatementHandle::new("SELECT a FROM t WHERE b > $2 AND a = $1".into());
        let (answer, parameters) = engine().await.prepare(&handle, "test").await.unwrap();
        assert_eq!(answer.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["a"]);
        let fields: Vec<_> = parameters.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
        assert_eq!(fields, [("$1".to_string(), DataType::Int64), ("$2".to_string(), DataType::Float64)]);
    }

    #[tokio::test]
    async fn locations_need_a_data_root_and_errors_have_codes() {
        let engine = engine().await;
        let ddl = StatementHandle::new("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'".into());
        let err = engine.schema(&ddl, "test").await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert!(err.message().contains("takes no LOCATION from clients"), "{}", err.message());
        let err = engine.schema(&StatementHandle::new("SELECT nope FROM t".into()), "test").await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("nope"), "{}", err.message());
        assert_eq!(status(DataFusionError::ResourcesExhausted("x".into())).code(), Code::ResourceExhausted);
        assert_eq!(status(DataFusionError::NotImplemented("x".into())).code(), Code::Unimplemented);
    }

    #[tokio::test]
    async fn updates_count_rows() {
        let engine = engine().await;
        let insert = StatementHandle::new("INSERT INTO t VALUES (2, 3.0), (3, 4.0)".into());
        assert_eq!(engine.update(insert, "test").await.unwrap(), 2);
        let view = StatementHandle::new("CREATE VIEW v AS SELECT a FROM t".into());
        assert_eq!(engine.update(view, "test").await.unwrap(), -1);
        let count = engine.base().sql("SELECT count(*) FROM v").await.unwrap().collect().await.unwrap();
        assert_eq!(
            count[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0),
            3
        );
    }
}
