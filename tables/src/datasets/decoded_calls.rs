//! `decoded_calls`: one row per contract call the fast layer's decoder read (or failed to read,
//! with `decode_status` saying why).

use std::sync::Arc;

use chainx_evm::DecodedCallRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{dates, field, int, ints, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN};
use crate::error::Result;

pub(crate) const DATASET: Dataset = Dataset {
    name: "decoded_calls",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "transaction_index"],
    schema,
    fetch: Fetch::Blocks,
};

/// One row per decoded contract call. `args` is the JSON array of `{name, type, value}` (values
/// as strings for integers, so uint256 stays exact), readable with `get_json_object` in Hive.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("hash", DataType::Utf8, false),
        field("block_number", DataType::Int64, false),
        field("block_hash", DataType::Utf8, false),
        field("transaction_index", DataType::Int64, false),
        field("from_address", DataType::Utf8, true),
        field("to_address", DataType::Utf8, true),
        field("block_timestamp", timestamp(), false),
        field("decode_status", DataType::Utf8, false),
        field("decode_error", DataType::Utf8, true),
        field("selector", DataType::Utf8, true),
        field("function_name", DataType::Utf8, true),
        field("signature", DataType::Utf8, true),
        field("args", DataType::Utf8, true),
        field("abi_source", DataType::Utf8, true),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}
pub fn batch(rows: &[DecodedCallRow]) -> Result<RecordBatch> {
    let int_col = |f: &'static str, get: fn(&DecodedCallRow) -> u64| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| int(r.block_number, f, get(r)).map(Some))
                .collect::<Result<_>>()?,
        ))
    };
    let args: Vec<Option<String>> = rows
        .iter()
        .map(|r| (!r.call.args.is_empty()).then(|| serde_json::to_string(&r.call.args).unwrap_or_default()))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.hash.as_str()))),
        int_col("block_number", |r| r.block_number)?,
        strings(rows.iter().map(|r| Some(r.block_hash.as_str()))),
        int_col("transaction_index", |r| r.transaction_index)?,
        strings(rows.iter().map(|r| Some(r.from_address.as_str()))),
        strings(rows.iter().map(|r| r.to_address.as_deref())),
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        strings(rows.iter().map(|r| Some(r.call.decode_status.as_str()))),
        strings(rows.iter().map(|r| r.call.decode_error.as_deref())),
        strings(rows.iter().map(|r| r.call.selector.as_deref())),
        strings(rows.iter().map(|r| r.call.function_name.as_deref())),
        strings(rows.iter().map(|r| r.call.signature.as_deref())),
        strings(args.iter().map(|a| a.as_deref())),
        strings(rows.iter().map(|r| r.call.abi_source.map(|s| s.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
