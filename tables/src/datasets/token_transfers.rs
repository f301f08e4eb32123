//! `token_transfers`: ERC-20, ERC-721 and ERC-1155 transfers, as BigQuery's
//! `crypto_ethereum.token_transfers` plus `token_standard`, `token_id`, `batch_index` and
//! `operator`. `value` and `token_id` are decimal strings (BigQuery's `value` is a STRING too):
//! exact for all of uint256, which Decimal(38,0) is not. From the receipts' logs.

use std::sync::Arc;

use chainx_evm::TokenTransferRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{dates, field, ints, opt_int, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN};
use crate::error::Result;

pub(crate) const DATASET: Dataset = Dataset {
    name: "token_transfers",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "log_index", "batch_index"],
    schema,
    fetch: Fetch::Receipts,
};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("token_address", DataType::Utf8, false),
        field("from_address", DataType::Utf8, false),
        field("to_address", DataType::Utf8, false),
        field("value", DataType::Utf8, false),
        field("transaction_hash", DataType::Utf8, false),
        field("transaction_index", DataType::Int64, false),
        field("log_index", DataType::Int64, false),
        field("block_timestamp", timestamp(), false),
        field("block_number", DataType::Int64, false),
        field("block_hash", DataType::Utf8, false),
        field("token_standard", DataType::Utf8, false),
        field("token_id", DataType::Utf8, true),
        field("batch_index", DataType::Int64, true),
        field("operator", DataType::Utf8, true),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn batch(rows: &[TokenTransferRow]) -> Result<RecordBatch> {
    let int_col = |f: &'static str, get: fn(&TokenTransferRow) -> Option<u64>| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| opt_int(r.block_number, f, get(r)))
                .collect::<Result<_>>()?,
        ))
    };
    let values: Vec<String> = rows.iter().map(|r| r.value.to_string()).collect();
    let ids: Vec<Option<String>> = rows.iter().map(|r| r.token_id.map(|v| v.to_string())).collect();
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.token_address.as_str()))),
        strings(rows.iter().map(|r| Some(r.from_address.as_str()))),
        strings(rows.iter().map(|r| Some(r.to_address.as_str()))),
        strings(values.iter().map(|v| Some(v.as_str()))),
        strings(rows.iter().map(|r| Some(r.transaction_hash.as_str()))),
        int_col("transaction_index", |r| Some(r.transaction_index))?,
        int_col("log_index", |r| Some(r.log_index))?,
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        int_col("block_number", |r| Some(r.block_number))?,
        strings(rows.iter().map(|r| Some(r.block_hash.as_str()))),
        strings(rows.iter().map(|r| Some(r.token_standard.as_str()))),
        strings(ids.iter().map(|v| v.as_deref())),
        int_col("batch_index", |r| r.batch_index)?,
        strings(rows.iter().map(|r| r.operator.as_deref())),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
