//! What tickets and prepared-statement handles carry: the SQL text and its bound parameters.
//! The server keeps no per-statement state, so a handle works on any connection.

use std::sync::Arc;

use arrow_flight::decode::{DecodedPayload, FlightDataDecoder};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::ParamValues;
use datafusion::scalar::ScalarValue;
use futures::{Stream, TryStreamExt};
use prost::Message;
use prost::bytes::Bytes;
use tonic::Status;

/// A statement: its SQL and, once bound, its parameters as one Arrow IPC stream of one row.
#[derive(Clone, PartialEq, Message)]
pub struct StatementHandle {
    #[prost(string, tag = "1")]
    pub sql: String,
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub parameters: Option<Bytes>,
}

impl StatementHandle {
    pub fn new(sql: String) -> Self {
        StatementHandle { sql, parameters: None }
    }

    pub fn to_bytes(&self) -> Bytes {
        self.encode_to_vec().into()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Status> {
        StatementHandle::decode(bytes).map_err(|e| Status::invalid_argument(format!("invalid statement handle: {e}")))
    }

    /// The bound parameter values: positional (`$1`, `$2`... from columns named `0`, `1`... or
    /// `$1`, `$2`...) or named (`$lat` from a column `lat`).
    pub fn parameter_values(&self) -> Result<Option<ParamValues>, Status> {
        let Some(bytes) = &self.parameters else { return Ok(None) };
        let reader = StreamReader::try_new(bytes.as_ref(), None).map_err(bad_parameters)?;
        let schema = reader.schema();
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(bad_parameters)?;
        let batch = concat_batches(&schema, &batches).map_err(bad_parameters)?;
        if batch.num_rows() != 1 {
            return Err(Status::invalid_argument(format!(
                "parameters must be one row, got {} (execute the statement once per row)",
                batch.num_rows()
            )));
        }
        values(&batch).map(Some)
    }
}

fn values(batch: &RecordBatch) -> Result<ParamValues, Status> {
    let mut named = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let value = ScalarValue::try_from_array(column, 0).map_err(|e| Status::invalid_argument(e.to_string()))?;
        named.push((field.name().trim_start_matches('$').to_string(), value));
    }
    let positions: Option<Vec<usize>> = named.iter().map(|(name, _)| name.parse().ok()).collect();
    match positions {
        Some(positions) => {
            // Columns `0, 1, ...` (ADBC) or `1, 2, ...` (`$1, $2`): order them by number.
            let mut ordered: Vec<(usize, ScalarValue)> =
                positions.into_iter().zip(named.into_iter().map(|(_, v)| v)).collect();
            ordered.sort_by_key(|(position, _)| *position);
            Ok(ordered.into_iter().map(|(_, v)| v).collect::<Vec<_>>().into())
        }
        None => Ok(named.into()),
    }
}

/// Reads the parameter rows a client sends with DoPut into one IPC stream (`None` if it sent none).
pub async fn read_parameters<S>(stream: S) -> Result<Option<Bytes>, Status>
where
    S: Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static,
{
    let mut decoder = FlightDataDecoder::new(stream.map_err(|s| arrow_flight::error::FlightError::Tonic(Box::new(s))));
    let mut schema: Option<Arc<Schema>> = None;
    let mut batches = Vec::new();
    while let Some(message) = decoder.try_next().await.map_err(Status::from)? {
        match message.payload {
            DecodedPayload::Schema(s) => schema = Some(s),
            DecodedPayload::RecordBatch(batch) => batches.push(batch),
            DecodedPayload::None => {}
        }
    }
    let Some(schema) = schema else { return Ok(None) };
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &schema).map_err(bad_parameters)?;
    for batch in &batches {
        writer.write(batch).map_err(bad_parameters)?;
    }
    writer.finish().map_err(bad_parameters)?;
    drop(writer);
    Ok(Some(bytes.into()))
}

fn bad_parameters(err: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("invalid parameters: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field};

    fn handle_with(batch: &RecordBatch) -> StatementHandle {
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema()).unwrap();
        writer.write(batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        StatementHandle { sql: "SELECT $1".into(), parameters: Some(bytes.into()) }
    }

    fn batch(names: [&str; 2]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new(names[0], DataType::Int64, true),
            Field::new(names[1], DataType::Float64, true),
        ]);
        let columns: Vec<Arc<dyn datafusion::arrow::array::Array>> =
            vec![Arc::new(Int64Array::from(vec![7])), Arc::new(Float64Array::from(vec![2.5]))];
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    #[test]
    fn positional_and_named() {
        let handle = handle_with(&batch(["1", "0"]));
        let round = StatementHandle::from_bytes(&handle.to_bytes()).unwrap();
        assert_eq!(round, handle);
        match round.parameter_values().unwrap().unwrap() {
            ParamValues::List(values) => {
                let values: Vec<_> = values.into_iter().map(|v| v.value).collect();
                assert_eq!(values, vec![ScalarValue::Float64(Some(2.5)), ScalarValue::Int64(Some(7))]);
            }
            other => panic!("{other:?}"),
        }
        let named = handle_with(&batch(["lat", "$lon"])).parameter_values().unwrap().unwrap();
        assert!(matches!(named, ParamValues::Map(map) if map.contains_key("lat") && map.contains_key("lon")));
        assert!(StatementHandle::new("x".into()).parameter_values().unwrap().is_none());
        assert!(StatementHandle::from_bytes(b"\xff\xff").is_err());
    }
}
