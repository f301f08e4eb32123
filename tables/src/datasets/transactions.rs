//! `transactions`: one row per transaction with its receipt's `receipt_*` columns, as BigQuery's
//! `crypto_ethereum.transactions`, plus chainx's `tx_kind` (the original design's three classes).

use std::sync::Arc;

use chainx_evm::alloy_primitives::U256;
use chainx_evm::TransactionRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{dates, decimals, field, ints, opt_dec, opt_int, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN, WEI};
use crate::error::Result;

pub(crate) const DATASET: Dataset = Dataset {
    name: "transactions",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "transaction_index"],
    schema,
    // Without receipts the receipt_* columns stay null (`--no-receipts`).
    fetch: Fetch::Blocks,
};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("hash", DataType::Utf8, false),
        field("nonce", DataType::Int64, true),
        field("block_hash", DataType::Utf8, false),
        field("block_number", DataType::Int64, false),
        field("transaction_index", DataType::Int64, false),
        field("from_address", DataType::Utf8, true),
        field("to_address", DataType::Utf8, true),
        field("value", WEI, true),
        field("gas", DataType::Int64, true),
        field("gas_price", WEI, true),
        field("input", DataType::Utf8, true),
        field("block_timestamp", timestamp(), false),
        field("max_fee_per_gas", WEI, true),
        field("max_priority_fee_per_gas", WEI, true),
        field("transaction_type", DataType::Int64, true),
        field("receipt_cumulative_gas_used", DataType::Int64, true),
        field("receipt_gas_used", DataType::Int64, true),
        field("receipt_contract_address", DataType::Utf8, true),
        field("receipt_status", DataType::Int64, true),
        field("receipt_effective_gas_price", WEI, true),
        field("tx_kind", DataType::Utf8, false),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn batch<S: AsRef<str>>(rows: &[TransactionRow<S>]) -> Result<RecordBatch> {
    let dec = |f: &'static str, get: fn(&TransactionRow<S>) -> Option<U256>| {
        decimals(
            rows.iter()
                .map(|r| opt_dec(r.block_number, f, get(r)))
                .collect::<Result<_>>()?,
        )
    };
    let int_col = |f: &'static str, get: fn(&TransactionRow<S>) -> Option<u64>| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| opt_int(r.block_number, f, get(r)))
                .collect::<Result<_>>()?,
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.hash.as_ref()))),
        int_col("nonce", |r| Some(r.nonce))?,
        strings(rows.iter().map(|r| Some(r.block_hash.as_ref()))),
        int_col("block_number", |r| Some(r.block_number))?,
        int_col("transaction_index", |r| Some(r.transaction_index))?,
        strings(rows.iter().map(|r| Some(r.from_address.as_ref()))),
        strings(rows.iter().map(|r| r.to_address.as_ref().map(AsRef::as_ref))),
        dec("value", |r| Some(r.value))?,
        int_col("gas", |r| Some(r.gas))?,
        dec("gas_price", |r| r.gas_price)?,
        strings(rows.iter().map(|r| Some(r.input.as_ref()))),
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        dec("max_fee_per_gas", |r| r.max_fee_per_gas)?,
        dec("max_priority_fee_per_gas", |r| r.max_priority_fee_per_gas)?,
        int_col("transaction_type", |r| r.transaction_type)?,
        int_col("receipt_cumulative_gas_used", |r| r.receipt_cumulative_gas_used)?,
        int_col("receipt_gas_used", |r| r.receipt_gas_used)?,
        strings(
            rows.iter()
                .map(|r| r.receipt_contract_address.as_ref().map(AsRef::as_ref)),
        ),
        int_col("receipt_status", |r| r.receipt_status)?,
        dec("receipt_effective_gas_price", |r| r.receipt_effective_gas_price)?,
        strings(rows.iter().map(|r| Some(r.tx_kind.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
