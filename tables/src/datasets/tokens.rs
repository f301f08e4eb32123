//! `tokens`: the name, symbol, decimals and total supply of every ERC-20 or ERC-721 contract
//! the traces' creates made, read at its creation block, as BigQuery's `crypto_ethereum.tokens`
//! (whose `decimals` is a string: here an int64, which `CAST(decimals AS INT64)` still reads).
//! Four `eth_call`s a token, batched with the run's other calls.

use std::sync::Arc;

use chainx_evm::TokenRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{dates, field, int, ints, opt_int, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN};
use crate::error::Result;

pub(crate) const DATASET: Dataset = Dataset {
    name: "tokens",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "address"],
    schema,
    fetch: Fetch::Tokens,
};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("address", DataType::Utf8, false),
        field("symbol", DataType::Utf8, true),
        field("name", DataType::Utf8, true),
        field("decimals", DataType::Int64, true),
        field("total_supply", DataType::Utf8, true),
        field("block_timestamp", timestamp(), false),
        field("block_number", DataType::Int64, false),
        field("block_hash", DataType::Utf8, false),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn batch(rows: &[TokenRow]) -> Result<RecordBatch> {
    let numbers = rows
        .iter()
        .map(|r| int(r.block_number, "block_number", r.block_number).map(Some))
        .collect::<Result<_>>()?;
    let decimals = rows
        .iter()
        .map(|r| opt_int(r.block_number, "decimals", r.decimals))
        .collect::<Result<_>>()?;
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.address.as_str()))),
        strings(rows.iter().map(|r| r.symbol.as_deref())),
        strings(rows.iter().map(|r| r.name.as_deref())),
        ints(decimals),
        strings(rows.iter().map(|r| r.total_supply.as_deref())),
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        ints(numbers),
        strings(rows.iter().map(|r| Some(r.block_hash.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
