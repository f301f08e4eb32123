//! `decoded_events`: every log whose event a known ABI decodes, Dune-style: the log's identity,
//! `event_name`, `event_signature` and `args` (a JSON object by argument name, integers as
//! decimal strings; read with `get_json_object(args, '$.amount0In')`). Logs no ABI decodes are
//! counted, not landed.

use std::sync::Arc;

use chainx_evm::DecodedEventRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{dates, field, int, ints, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN};
use crate::error::Result;

pub(crate) const DATASET: Dataset = Dataset {
    name: "decoded_events",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "log_index"],
    schema,
    fetch: Fetch::Receipts,
};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("block_number", DataType::Int64, false),
        field("block_timestamp", timestamp(), false),
        field("block_hash", DataType::Utf8, false),
        field("transaction_hash", DataType::Utf8, false),
        field("transaction_index", DataType::Int64, false),
        field("log_index", DataType::Int64, false),
        field("contract_address", DataType::Utf8, false),
        field("event_name", DataType::Utf8, false),
        field("event_signature", DataType::Utf8, false),
        field("args", DataType::Utf8, false),
        field("abi_source", DataType::Utf8, false),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn batch(rows: &[DecodedEventRow]) -> Result<RecordBatch> {
    let int_col = |f: &'static str, get: fn(&DecodedEventRow) -> u64| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| int(r.block_number, f, get(r)).map(Some))
                .collect::<Result<_>>()?,
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        int_col("block_number", |r| r.block_number)?,
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        strings(rows.iter().map(|r| Some(r.block_hash.as_str()))),
        strings(rows.iter().map(|r| Some(r.transaction_hash.as_str()))),
        int_col("transaction_index", |r| r.transaction_index)?,
        int_col("log_index", |r| r.log_index)?,
        strings(rows.iter().map(|r| Some(r.contract_address.as_str()))),
        strings(rows.iter().map(|r| Some(r.event_name.as_str()))),
        strings(rows.iter().map(|r| Some(r.event_signature.as_str()))),
        strings(rows.iter().map(|r| Some(r.args.as_str()))),
        strings(rows.iter().map(|r| Some(r.abi_source.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
