//! The Flight SQL protocol over OceanQL's session: statements, prepared statements with
//! parameters, updates (DDL), and the metadata calls.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    Any, CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys,
    CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use futures::{Stream, TryStreamExt};
use prost::Message;
use prost::bytes::Bytes;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::handle::{StatementHandle, read_parameters};
use crate::metadata;
use crate::query::{Engine, FlightStream};

type DoGetResult = Result<Response<<OceanQlService as FlightService>::DoGetStream>, Status>;

/// OceanQL's Flight SQL service.
pub struct OceanQlService {
    engine: Arc<Engine>,
    token: Option<String>,
}

impl OceanQlService {
    pub fn new(engine: Arc<Engine>, token: Option<String>) -> Self {
        OceanQlService { engine, token }
    }

    /// A FlightInfo whose one endpoint hands `ticket` back to this server.
    fn info(
        &self,
        descriptor: FlightDescriptor,
        schema: &Schema,
        ticket: Vec<u8>,
    ) -> Result<Response<FlightInfo>, Status> {
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket));
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(endpoint)
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }
}

fn peer<T>(request: &Request<T>) -> String {
    request.remote_addr().map_or_else(|| "?".into(), |a| a.to_string())
}

/// One batch (a metadata answer) as a DoGet stream.
fn one_batch(batch: RecordBatch) -> DoGetResult {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(batch.schema())
        .build(futures::stream::once(async { Ok(batch) }))
        .map_err(Status::from);
    Ok(Response::new(Box::pin(stream) as FlightStream))
}

fn empty(schema: SchemaRef) -> DoGetResult {
    one_batch(RecordBatch::new_empty(schema))
}

fn ipc_schema(schema: &Schema) -> Result<Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(bytes)
}

fn table_types_batch() -> Result<RecordBatch, Status> {
    let names = metadata::TABLE_TYPES.to_vec();
    let schema = Arc::new(Schema::new(vec![Field::new("table_type", DataType::Utf8, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(names))]).map_err(|e| Status::internal(e.to_string()))
}

fn catalogs_batch(engine: &Engine, query: CommandGetCatalogs) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    for name in engine.base().catalog_names() {
        builder.append(name);
    }
    builder.build().map_err(|e| Status::internal(e.to_string()))
}

#[tonic::async_trait]
impl FlightSqlService for OceanQlService {
    type FlightService = OceanQlService;

    /// Basic credentials (password = the token) or a bearer token were already checked by
    /// the interceptor; the answer hands the bearer token back for the next calls.
    async fn do_handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        let token = self.token.clone().unwrap_or_default();
        let answer = HandshakeResponse { protocol_version: 0, payload: token.clone().into() };
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(futures::stream::iter([Ok(answer)])));
        if !token.is_empty() {
            let value = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| Status::internal("token is not a valid header"))?;
            response.metadata_mut().insert("authorization", value);
        }
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let handle = StatementHandle::new(query.query);
        let schema = self.engine.schema(&handle, &peer(&request)).await?;
        let ticket = TicketStatementQuery { statement_handle: handle.to_bytes() };
        self.info(request.into_inner(), &schema, ticket.as_any().encode_to_vec())
    }

    async fn do_get_statement(&self, ticket: TicketStatementQuery, request: Request<Ticket>) -> DoGetResult {
        let handle = StatementHandle::from_bytes(&ticket.statement_handle)?;
        Ok(Response::new(self.engine.execute(handle, &peer(&request)).await?))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.engine.update(StatementHandle::new(command.query), &peer(&request)).await
    }

    async fn do_put_statement_ingest(
        &self,
        _command: CommandStatementIngest,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(Status::unimplemented("bulk ingest is not supported: register files with CREATE EXTERNAL TABLE"))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let handle = StatementHandle::new(query.query);
        let who = peer(&request);
        let (dataset_schema, parameter_schema) = self.engine.prepare(&handle, &who).await?;
        let (dataset_schema, parameter_schema) = (ipc_schema(&dataset_schema)?, ipc_schema(&parameter_schema)?);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.to_bytes(),
            dataset_schema,
            parameter_schema,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let mut handle = StatementHandle::from_bytes(&query.prepared_statement_handle)?;
        handle.parameters = read_parameters(request.into_inner()).await?;
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(handle.to_bytes()) })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let handle = StatementHandle::from_bytes(&query.prepared_statement_handle)?;
        let schema = self.engine.schema(&handle, &peer(&request)).await?;
        self.info(request.into_inner(), &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> DoGetResult {
        let handle = StatementHandle::from_bytes(&query.prepared_statement_handle)?;
        Ok(Response::new(self.engine.execute(handle, &peer(&request)).await?))
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let mut handle = StatementHandle::from_bytes(&query.prepared_statement_handle)?;
        let who = peer(&request);
        if let Some(parameters) = read_parameters(request.into_inner()).await? {
            handle.parameters = Some(parameters);
        }
        self.engine.update(handle, &who).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        Ok(()) // handles carry everything; nothing is kept on the server
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.info(request.into_inner(), &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_catalogs(&self, query: CommandGetCatalogs, _request: Request<Ticket>) -> DoGetResult {
        one_batch(catalogs_batch(&self.engine, query)?)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.info(request.into_inner(), &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_schemas(&self, query: CommandGetDbSchemas, _request: Request<Ticket>) -> DoGetResult {
        one_batch(metadata::db_schemas(self.engine.base(), query)?)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.info(request.into_inner(), &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_tables(&self, query: CommandGetTables, _request: Request<Ticket>) -> DoGetResult {
        one_batch(metadata::tables(self.engine.base(), query).await?)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info(request.into_inner(), &table_types_batch()?.schema(), query.as_any().encode_to_vec())
    }

    async fn do_get_table_types(&self, _query: CommandGetTableTypes, _request: Request<Ticket>) -> DoGetResult {
        one_batch(table_types_batch()?)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&metadata::SQL_INFO).schema();
        self.info(request.into_inner(), &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_sql_info(&self, query: CommandGetSqlInfo, _request: Request<Ticket>) -> DoGetResult {
        one_batch(query.into_builder(&metadata::SQL_INFO).build().map_err(|e| Status::internal(e.to_string()))?)
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&metadata::XDBC_TYPES).schema();
        self.info(request.into_inner(), &schema, query.as_any().encode_to_vec())
    }

    async fn do_get_xdbc_type_info(&self, query: CommandGetXdbcTypeInfo, _request: Request<Ticket>) -> DoGetResult {
        one_batch(query.into_builder(&metadata::XDBC_TYPES).build().map_err(|e| Status::internal(e.to_string()))?)
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info(request.into_inner(), &metadata::primary_keys_schema(), query.as_any().encode_to_vec())
    }

    async fn do_get_primary_keys(&self, _query: CommandGetPrimaryKeys, _request: Request<Ticket>) -> DoGetResult {
        empty(metadata::primary_keys_schema())
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info(request.into_inner(), &metadata::foreign_keys_schema(), query.as_any().encode_to_vec())
    }

    async fn do_get_exported_keys(&self, _query: CommandGetExportedKeys, _request: Request<Ticket>) -> DoGetResult {
        empty(metadata::foreign_keys_schema())
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info(request.into_inner(), &metadata::foreign_keys_schema(), query.as_any().encode_to_vec())
    }

    async fn do_get_imported_keys(&self, _query: CommandGetImportedKeys, _request: Request<Ticket>) -> DoGetResult {
        empty(metadata::foreign_keys_schema())
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info(request.into_inner(), &metadata::foreign_keys_schema(), query.as_any().encode_to_vec())
    }

    async fn do_get_cross_reference(&self, _query: CommandGetCrossReference, _request: Request<Ticket>) -> DoGetResult {
        empty(metadata::foreign_keys_schema())
    }

    async fn do_get_fallback(&self, _request: Request<Ticket>, message: Any) -> DoGetResult {
        Err(Status::invalid_argument(format!("unknown ticket type {}", message.type_url)))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
