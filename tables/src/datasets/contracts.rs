//! `contracts`: every contract a successful create made, top-level deployments and contracts
//! made by contracts (factory pairs) alike, as BigQuery's `crypto_ethereum.contracts`. chainx adds
//! what created it (`transaction_hash`, `trace_address`) and `proxy_implementation` for
//! EIP-1167 minimal proxies and EIP-1967 proxies made with an initializer call. From the
//! traces' creates: no request of its own.

use std::sync::Arc;

use chainx_evm::ContractRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{bools, dates, field, int, ints, string_list_type, string_lists, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN};
use crate::error::Result;

pub(crate) const DATASET: Dataset = Dataset {
    name: "contracts",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "address"],
    schema,
    fetch: Fetch::Traces,
};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("address", DataType::Utf8, false),
        field("bytecode", DataType::Utf8, false),
        field("function_sighashes", string_list_type(), true),
        field("is_erc20", DataType::Boolean, false),
        field("is_erc721", DataType::Boolean, false),
        field("proxy_implementation", DataType::Utf8, true),
        field("transaction_hash", DataType::Utf8, true),
        field("trace_address", DataType::Utf8, true),
        field("block_timestamp", timestamp(), false),
        field("block_number", DataType::Int64, false),
        field("block_hash", DataType::Utf8, false),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn batch(rows: &[ContractRow]) -> Result<RecordBatch> {
    let numbers = rows
        .iter()
        .map(|r| int(r.block_number, "block_number", r.block_number).map(Some))
        .collect::<Result<_>>()?;
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.address.as_str()))),
        strings(rows.iter().map(|r| Some(r.bytecode.as_str()))),
        string_lists(
            rows.first().map_or(0, |r| r.block_number),
            "function_sighashes",
            rows.iter().map(|r| r.function_sighashes.as_slice()),
        )?,
        bools(rows.iter().map(|r| r.is_erc20)),
        bools(rows.iter().map(|r| r.is_erc721)),
        strings(rows.iter().map(|r| r.proxy_implementation.as_deref())),
        strings(rows.iter().map(|r| r.transaction_hash.as_deref())),
        strings(rows.iter().map(|r| r.trace_address.as_deref())),
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        ints(numbers),
        strings(rows.iter().map(|r| Some(r.block_hash.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
