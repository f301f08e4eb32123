//! `blocks`: one row per block, as BigQuery's `crypto_ethereum.blocks` (withdrawals as an array
//! of structs, in gwei).

use std::sync::Arc;

use chainx_evm::alloy_primitives::U256;
use chainx_evm::{BlockRow, Withdrawal};
use deltalake::arrow::array::{ArrayRef, ListArray, RecordBatch, StructArray};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};

use super::columns::{dates, decimal, decimals, field, int, ints, opt_int, strings, timestamp, timestamps};
use super::out_of_range::OutOfRange;
use super::{Dataset, Fetch, PARTITION_COLUMN, WEI};
use crate::error::{Error, Result};

pub(crate) const DATASET: Dataset = Dataset {
    name: "blocks",
    block_columns: ("number", "hash"),
    sort_keys: &["number"],
    schema,
    fetch: Fetch::Blocks,
};

/// The struct of one withdrawal, as BigQuery's `withdrawals` RECORD.
pub fn withdrawal_fields() -> Fields {
    Fields::from(vec![
        field("index", DataType::Int64, false),
        field("validator_index", DataType::Int64, false),
        field("address", DataType::Utf8, false),
        // gwei, as the consensus layer counts
        field("amount", WEI, false),
    ])
}

/// The list element is named `element`, as Delta's Arrow conversion names it, so batches and
/// the table's schema compare equal.
pub fn withdrawal_item() -> FieldRef {
    Arc::new(Field::new("element", DataType::Struct(withdrawal_fields()), true))
}

pub fn withdrawals_type() -> DataType {
    DataType::List(withdrawal_item())
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("number", DataType::Int64, false),
        field("hash", DataType::Utf8, false),
        field("parent_hash", DataType::Utf8, true),
        field("nonce", DataType::Utf8, true),
        field("sha3_uncles", DataType::Utf8, true),
        field("logs_bloom", DataType::Utf8, true),
        field("transactions_root", DataType::Utf8, true),
        field("state_root", DataType::Utf8, true),
        field("receipts_root", DataType::Utf8, true),
        field("miner", DataType::Utf8, true),
        field("difficulty", WEI, true),
        field("total_difficulty", WEI, true),
        field("size", DataType::Int64, true),
        field("extra_data", DataType::Utf8, true),
        field("gas_limit", DataType::Int64, true),
        field("gas_used", DataType::Int64, true),
        field("timestamp", timestamp(), false),
        field("transaction_count", DataType::Int64, true),
        field("base_fee_per_gas", WEI, true),
        field("withdrawals_root", DataType::Utf8, true),
        field("withdrawals", withdrawals_type(), true),
        field("blob_gas_used", DataType::Int64, true),
        field("excess_blob_gas", DataType::Int64, true),
        field("parent_beacon_block_root", DataType::Utf8, true),
        field("extra", DataType::Utf8, true),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

fn withdrawals(rows: &[BlockRow]) -> Result<ArrayRef> {
    let mut offsets = vec![0i32];
    let mut nulls = Vec::with_capacity(rows.len());
    let mut all: Vec<(u64, &Withdrawal)> = Vec::new();
    for r in rows {
        if let Some(ws) = &r.withdrawals {
            all.extend(ws.iter().map(|w| (r.number, w)));
        }
        nulls.push(r.withdrawals.is_some());
        offsets.push(i32::try_from(all.len()).map_err(|_| Error::Overflow {
            block: r.number,
            field: "withdrawals",
            value: all.len().to_string(),
            target: "one batch",
        })?);
    }
    let index = ints(
        all.iter()
            .map(|(b, w)| int(*b, "withdrawals.index", w.index).map(Some))
            .collect::<Result<_>>()?,
    );
    let validator = ints(
        all.iter()
            .map(|(b, w)| int(*b, "withdrawals.validator_index", w.validator_index).map(Some))
            .collect::<Result<_>>()?,
    );
    let address = strings(all.iter().map(|(_, w)| Some(w.address.as_str())));
    let amount = decimals(
        all.iter()
            .map(|(b, w)| decimal(*b, "withdrawals.amount", w.amount).map(Some))
            .collect::<Result<_>>()?,
    )?;
    let structs = StructArray::try_new(withdrawal_fields(), vec![index, validator, address, amount], None)?;
    Ok(Arc::new(ListArray::try_new(
        withdrawal_item(),
        OffsetBuffer::new(offsets.into()),
        Arc::new(structs),
        Some(nulls.into()),
    )?))
}

pub fn batch(rows: &[BlockRow]) -> Result<RecordBatch> {
    let kept = OutOfRange::default();
    let dec = |f: &'static str, get: fn(&BlockRow) -> Option<U256>| {
        decimals(
            rows.iter()
                .enumerate()
                .map(|(i, r)| kept.dec(i, r.number, f, get(r)))
                .collect(),
        )
    };
    let int_col = |f: &'static str, get: fn(&BlockRow) -> Option<u64>| -> ArrayRef {
        ints(
            rows.iter()
                .enumerate()
                .map(|(i, r)| kept.int(i, r.number, f, get(r)))
                .collect(),
        )
    };
    let text = |get: fn(&BlockRow) -> Option<&str>| strings(rows.iter().map(get));
    let numbers = ints(
        rows.iter()
            .map(|r| opt_int(r.number, "number", Some(r.number)))
            .collect::<Result<_>>()?,
    );
    let columns: Vec<ArrayRef> = vec![
        numbers,
        text(|r| Some(r.hash.as_str())),
        text(|r| Some(r.parent_hash.as_str())),
        text(|r| r.nonce.as_deref()),
        text(|r| r.sha3_uncles.as_deref()),
        text(|r| r.logs_bloom.as_deref()),
        text(|r| r.transactions_root.as_deref()),
        text(|r| r.state_root.as_deref()),
        text(|r| r.receipts_root.as_deref()),
        text(|r| r.miner.as_deref()),
        dec("difficulty", |r| r.difficulty)?,
        dec("total_difficulty", |r| r.total_difficulty)?,
        int_col("size", |r| r.size),
        text(|r| r.extra_data.as_deref()),
        int_col("gas_limit", |r| r.gas_limit),
        int_col("gas_used", |r| r.gas_used),
        timestamps(rows.iter().map(|r| r.timestamp))?,
        int_col("transaction_count", |r| Some(r.transaction_count)),
        dec("base_fee_per_gas", |r| r.base_fee_per_gas)?,
        text(|r| r.withdrawals_root.as_deref()),
        withdrawals(rows)?,
        int_col("blob_gas_used", |r| r.blob_gas_used),
        int_col("excess_blob_gas", |r| r.excess_blob_gas),
        text(|r| r.parent_beacon_block_root.as_deref()),
        // Last of the value columns: it holds what they could not.
        kept.extra_column(rows.iter().map(|r| r.extra.as_deref())),
        dates(rows.iter().map(|r| r.timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
