//! Answers to the metadata calls BI tools and drivers make: catalogs, schemas, tables (with
//! their Arrow schemas), table types, SqlInfo, XDBC type info; keys are answered empty.

use std::sync::{Arc, LazyLock};

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    CommandGetDbSchemas, CommandGetTables, Nullable, Searchable, SqlInfo, SqlSupportedCaseSensitivity,
    SqlSupportedTransaction, XdbcDataType, XdbcDatetimeSubcode,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;
use tonic::Status;

use crate::query::status;

/// The table types DataFusion has, named as in information_schema.tables.
pub const TABLE_TYPES: [&str; 3] = ["BASE TABLE", "VIEW", "LOCAL TEMPORARY"];

fn type_name(table_type: TableType) -> &'static str {
    match table_type {
        TableType::Base => TABLE_TYPES[0],
        TableType::View => TABLE_TYPES[1],
        TableType::Temporary => TABLE_TYPES[2],
    }
}

/// GetDbSchemas: every schema of every catalog (the builder applies the client's filters).
pub fn db_schemas(ctx: &SessionContext, query: CommandGetDbSchemas) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else { continue };
        for schema_name in catalog.schema_names() {
            builder.append(&catalog_name, schema_name);
        }
    }
    builder.build().map_err(|e| Status::internal(e.to_string()))
}

/// GetTables: every table of every schema, with its Arrow schema when asked.
pub async fn tables(ctx: &SessionContext, query: CommandGetTables) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else { continue };
        for schema_name in catalog.schema_names() {
            let Some(schema) = catalog.schema(&schema_name) else { continue };
            for table_name in schema.table_names() {
                let Some(table) = schema.table(&table_name).await.map_err(status)? else { continue };
                builder
                    .append(&catalog_name, &schema_name, &table_name, type_name(table.table_type()), &table.schema())
                    .map_err(|e| Status::internal(e.to_string()))?;
            }
        }
    }
    builder.build().map_err(|e| Status::internal(e.to_string()))
}

/// What the server tells GetSqlInfo.
pub static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "OceanQL");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, SqlSupportedTransaction::None as i32);
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, true);
    b.append(SqlInfo::SqlDdlTable, true);
    b.append(SqlInfo::SqlIdentifierCase, SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(SqlInfo::SqlQuotedIdentifierCase, SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32);
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(SqlInfo::SqlNullOrdering, 2i32); // NULLS sort at the end (SqlNullOrdering::SqlNullsSortedAtEnd)
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlMaxStatements, 1i32);
    b.build().expect("valid SqlInfo")
});

/// The SQL types of GetXdbcTypeInfo: those DataFusion's SQL accepts in CAST and CREATE TABLE.
pub static XDBC_TYPES: LazyLock<XdbcTypeInfoData> = LazyLock::new(|| {
    use XdbcDataType as T;
    let mut b = XdbcTypeInfoDataBuilder::new();
    for (name, data_type, size, radix) in [
        ("BOOLEAN", T::XdbcBit, Some(1), None),
        ("TINYINT", T::XdbcTinyint, Some(3), Some(10)),
        ("SMALLINT", T::XdbcSmallint, Some(5), Some(10)),
        ("INTEGER", T::XdbcInteger, Some(10), Some(10)),
        ("BIGINT", T::XdbcBigint, Some(19), Some(10)),
        ("REAL", T::XdbcReal, Some(24), Some(2)),
        ("DOUBLE", T::XdbcDouble, Some(53), Some(2)),
        ("DECIMAL", T::XdbcDecimal, Some(38), Some(10)),
        ("VARCHAR", T::XdbcVarchar, None, None),
        ("VARBINARY", T::XdbcVarbinary, None, None),
        ("DATE", T::XdbcDate, Some(10), None),
        ("TIME", T::XdbcTime, Some(18), None),
        ("TIMESTAMP", T::XdbcTimestamp, Some(29), None),
    ] {
        b.append(type_info(name, data_type, size, radix));
    }
    b.build().expect("valid XDBC type info")
});

fn type_info(
    name: &str,
    data_type: XdbcDataType,
    column_size: Option<i32>,
    num_prec_radix: Option<i32>,
) -> XdbcTypeInfo {
    let quoted = matches!(
        data_type,
        XdbcDataType::XdbcVarchar | XdbcDataType::XdbcDate | XdbcDataType::XdbcTime | XdbcDataType::XdbcTimestamp
    );
    let (sql_data_type, datetime_subcode) = match data_type {
        XdbcDataType::XdbcDate => (XdbcDataType::XdbcDatetime, Some(XdbcDatetimeSubcode::XdbcSubcodeYear)), // 1: DATE (an alias in the spec),
        XdbcDataType::XdbcTime => (XdbcDataType::XdbcDatetime, Some(XdbcDatetimeSubcode::XdbcSubcodeTime)),
        XdbcDataType::XdbcTimestamp => (XdbcDataType::XdbcDatetime, Some(XdbcDatetimeSubcode::XdbcSubcodeTimestamp)),
        other => (other, None),
    };
    XdbcTypeInfo {
        type_name: name.into(),
        data_type,
        column_size,
        literal_prefix: quoted.then(|| "'".into()),
        literal_suffix: quoted.then(|| "'".into()),
        create_params: (name == "DECIMAL").then(|| vec!["precision".into(), "scale".into()]),
        nullable: Nullable::NullabilityNullable,
        case_sensitive: name == "VARCHAR",
        searchable: Searchable::Full,
        unsigned_attribute: num_prec_radix.map(|_| false),
        fixed_prec_scale: false,
        auto_increment: None,
        local_type_name: Some(name.into()),
        minimum_scale: None,
        maximum_scale: (name == "DECIMAL").then_some(38),
        sql_data_type,
        datetime_subcode,
        num_prec_radix,
        interval_precision: None,
    }
}

/// GetPrimaryKeys' schema (Flight SQL spec); OceanQL tables have no keys, so it is always empty.
pub fn primary_keys_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("catalog_name", true),
        text("db_schema_name", true),
        text("table_name", false),
        text("column_name", false),
        Field::new("key_sequence", DataType::Int32, false),
        text("key_name", true),
    ]))
}

/// The schema of GetImportedKeys, GetExportedKeys and GetCrossReference (always empty).
pub fn foreign_keys_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("pk_catalog_name", true),
        text("pk_db_schema_name", true),
        text("pk_table_name", false),
        text("pk_column_name", false),
        text("fk_catalog_name", true),
        text("fk_db_schema_name", true),
        text("fk_table_name", false),
        text("fk_column_name", false),
        Field::new("key_sequence", DataType::Int32, false),
        text("fk_key_name", true),
        text("pk_key_name", true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}
