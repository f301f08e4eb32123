//! `transactions`: one row per transaction with its receipt's `receipt_*` columns, as BigQuery's
//! `crypto_ethereum.transactions`, plus chainx's `tx_kind` (the original design's three classes).

use std::sync::Arc;

use chainx_evm::alloy_primitives::U256;
use chainx_evm::TransactionRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{
    dates, decimals, field, ints, opt_bools, opt_int, optional_string_lists, string_list_type, strings, timestamp,
    timestamps,
};
use super::out_of_range::OutOfRange;
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
        // Null where the chain or the transaction type has no such field (see the README's
        // "Columns of other chains").
        field("max_fee_per_blob_gas", WEI, true),
        field("blob_versioned_hashes", string_list_type(), true),
        field("authorization_list", DataType::Utf8, true),
        field("source_hash", DataType::Utf8, true),
        field("mint", WEI, true),
        field("is_system_tx", DataType::Boolean, true),
        field("receipt_root", DataType::Utf8, true),
        field("receipt_blob_gas_used", DataType::Int64, true),
        field("receipt_blob_gas_price", WEI, true),
        field("receipt_l1_fee", WEI, true),
        field("receipt_l1_gas_used", DataType::Int64, true),
        field("receipt_l1_gas_price", WEI, true),
        field("receipt_l1_fee_scalar", DataType::Utf8, true),
        field("receipt_l1_base_fee_scalar", DataType::Int64, true),
        field("receipt_l1_blob_base_fee", WEI, true),
        field("receipt_l1_blob_base_fee_scalar", DataType::Int64, true),
        field("receipt_gas_used_for_l1", DataType::Int64, true),
        field("receipt_l1_block_number", DataType::Int64, true),
        field("extra", DataType::Utf8, true),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn batch<S: AsRef<str>>(rows: &[TransactionRow<S>]) -> Result<RecordBatch> {
    let kept = OutOfRange::default();
    let dec = |f: &'static str, get: fn(&TransactionRow<S>) -> Option<U256>| {
        decimals(
            rows.iter()
                .enumerate()
                .map(|(i, r)| kept.dec(i, r.block_number, f, get(r)))
                .collect(),
        )
    };
    let int_col = |f: &'static str, get: fn(&TransactionRow<S>) -> Option<u64>| -> ArrayRef {
        ints(
            rows.iter()
                .enumerate()
                .map(|(i, r)| kept.int(i, r.block_number, f, get(r)))
                .collect(),
        )
    };
    let text = |get: fn(&TransactionRow<S>) -> Option<&str>| strings(rows.iter().map(get));
    let required = |f: &'static str, get: fn(&TransactionRow<S>) -> u64| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| opt_int(r.block_number, f, Some(get(r))))
                .collect::<Result<_>>()?,
        ))
    };
    let hashes: Vec<Option<Vec<&str>>> = rows
        .iter()
        .map(|r| {
            r.blob_versioned_hashes
                .as_ref()
                .map(|hs| hs.iter().map(AsRef::as_ref).collect())
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        text(|r| Some(r.hash.as_ref())),
        int_col("nonce", |r| Some(r.nonce)),
        text(|r| Some(r.block_hash.as_ref())),
        required("block_number", |r| r.block_number)?,
        required("transaction_index", |r| r.transaction_index)?,
        text(|r| Some(r.from_address.as_ref())),
        text(|r| r.to_address.as_ref().map(AsRef::as_ref)),
        dec("value", |r| Some(r.value))?,
        int_col("gas", |r| Some(r.gas)),
        dec("gas_price", |r| r.gas_price)?,
        text(|r| Some(r.input.as_ref())),
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        dec("max_fee_per_gas", |r| r.max_fee_per_gas)?,
        dec("max_priority_fee_per_gas", |r| r.max_priority_fee_per_gas)?,
        int_col("transaction_type", |r| r.transaction_type),
        int_col("receipt_cumulative_gas_used", |r| r.receipt_cumulative_gas_used),
        int_col("receipt_gas_used", |r| r.receipt_gas_used),
        text(|r| r.receipt_contract_address.as_ref().map(AsRef::as_ref)),
        int_col("receipt_status", |r| r.receipt_status),
        dec("receipt_effective_gas_price", |r| r.receipt_effective_gas_price)?,
        text(|r| Some(r.tx_kind.as_str())),
        dec("max_fee_per_blob_gas", |r| r.max_fee_per_blob_gas)?,
        optional_string_lists(
            rows.first().map_or(0, |r| r.block_number),
            "blob_versioned_hashes",
            &hashes,
        )?,
        text(|r| r.authorization_list.as_deref()),
        text(|r| r.source_hash.as_ref().map(AsRef::as_ref)),
        dec("mint", |r| r.mint)?,
        opt_bools(rows.iter().map(|r| r.is_system_tx)),
        text(|r| r.receipt_root.as_ref().map(AsRef::as_ref)),
        int_col("receipt_blob_gas_used", |r| r.receipt_blob_gas_used),
        dec("receipt_blob_gas_price", |r| r.receipt_blob_gas_price)?,
        dec("receipt_l1_fee", |r| r.receipt_l1_fee)?,
        int_col("receipt_l1_gas_used", |r| r.receipt_l1_gas_used),
        dec("receipt_l1_gas_price", |r| r.receipt_l1_gas_price)?,
        text(|r| r.receipt_l1_fee_scalar.as_deref()),
        int_col("receipt_l1_base_fee_scalar", |r| r.receipt_l1_base_fee_scalar),
        dec("receipt_l1_blob_base_fee", |r| r.receipt_l1_blob_base_fee)?,
        int_col("receipt_l1_blob_base_fee_scalar", |r| r.receipt_l1_blob_base_fee_scalar),
        int_col("receipt_gas_used_for_l1", |r| r.receipt_gas_used_for_l1),
        int_col("receipt_l1_block_number", |r| r.receipt_l1_block_number),
        // Last of the value columns: it holds what they could not.
        kept.extra_column(rows.iter().map(|r| r.extra.as_deref())),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
