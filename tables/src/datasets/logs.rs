//! `logs`: every log of every successful transaction, as BigQuery's `crypto_ethereum.logs`
//! (`topics` an array of strings). From the receipts: no request of its own.

use std::sync::Arc;

use chainx_evm::LogRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{dates, field, int, ints, string_list_type, string_lists, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN};
use crate::error::Result;

pub(crate) const DATASET: Dataset = Dataset {
    name: "logs",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "log_index"],
    schema,
    fetch: Fetch::Receipts,
};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("log_index", DataType::Int64, false),
        field("transaction_hash", DataType::Utf8, false),
        field("transaction_index", DataType::Int64, false),
        field("address", DataType::Utf8, false),
        field("data", DataType::Utf8, true),
        field("topics", string_list_type(), true),
        field("block_timestamp", timestamp(), false),
        field("block_number", DataType::Int64, false),
        field("block_hash", DataType::Utf8, false),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn batch(rows: &[LogRow]) -> Result<RecordBatch> {
    let int_col = |f: &'static str, get: fn(&LogRow) -> u64| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| int(r.block_number, f, get(r)).map(Some))
                .collect::<Result<_>>()?,
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        int_col("log_index", |r| r.log_index)?,
        strings(rows.iter().map(|r| Some(r.transaction_hash.as_str()))),
        int_col("transaction_index", |r| r.transaction_index)?,
        strings(rows.iter().map(|r| Some(r.address.as_str()))),
        strings(rows.iter().map(|r| Some(r.data.as_str()))),
        string_lists(
            rows.first().map_or(0, |r| r.block_number),
            "topics",
            rows.iter().map(|r| r.topics.as_slice()),
        )?,
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        int_col("block_number", |r| r.block_number)?,
        strings(rows.iter().map(|r| Some(r.block_hash.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
