//! `traces`: every call, create and self-destruct inside the blocks' transactions, and the
//! rewards where the node reports them, as BigQuery's `crypto_ethereum.traces` (`trace_address`
//! a comma-joined string, `NULL` for a transaction's top call). chainx adds `trace_index`, the
//! trace's position in its block. One `trace_block` (or `debug_traceBlockByNumber`) per block.

use std::sync::Arc;

use chainx_evm::TraceRow;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};

use super::columns::{dates, decimals, field, int, ints, opt_dec, opt_int, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN, WEI};
use crate::error::Result;

pub(crate) const DATASET: Dataset = Dataset {
    name: "traces",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "trace_index"],
    schema,
    fetch: Fetch::Traces,
};

pub fn schema() -> SchemaRef {
    let text = |name| field(name, DataType::Utf8, true);
    let count = |name| field(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        text("transaction_hash"),
        count("transaction_index"),
        text("from_address"),
        text("to_address"),
        field("value", WEI, true),
        text("input"),
        text("output"),
        field("trace_type", DataType::Utf8, false),
        text("call_type"),
        text("reward_type"),
        count("gas"),
        count("gas_used"),
        field("subtraces", DataType::Int64, false),
        text("trace_address"),
        text("error"),
        field("status", DataType::Int64, false),
        field("block_timestamp", timestamp(), false),
        field("block_number", DataType::Int64, false),
        field("block_hash", DataType::Utf8, false),
        field("trace_id", DataType::Utf8, false),
        field("trace_index", DataType::Int64, false),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn batch(rows: &[TraceRow]) -> Result<RecordBatch> {
    let opt = |f: &'static str, get: fn(&TraceRow) -> Option<u64>| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| opt_int(r.block_number, f, get(r)))
                .collect::<Result<_>>()?,
        ))
    };
    let req = |f: &'static str, get: fn(&TraceRow) -> u64| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| int(r.block_number, f, get(r)).map(Some))
                .collect::<Result<_>>()?,
        ))
    };
    let text = |get: fn(&TraceRow) -> Option<&str>| strings(rows.iter().map(get));
    let columns: Vec<ArrayRef> = vec![
        text(|r| r.transaction_hash.as_deref()),
        opt("transaction_index", |r| r.transaction_index)?,
        text(|r| r.from_address.as_deref()),
        text(|r| r.to_address.as_deref()),
        decimals(
            rows.iter()
                .map(|r| opt_dec(r.block_number, "value", r.value))
                .collect::<Result<_>>()?,
        )?,
        text(|r| r.input.as_deref()),
        text(|r| r.output.as_deref()),
        text(|r| Some(r.trace_type.as_str())),
        text(|r| r.call_type.as_deref()),
        text(|r| r.reward_type.as_deref()),
        opt("gas", |r| r.gas)?,
        opt("gas_used", |r| r.gas_used)?,
        req("subtraces", |r| r.subtraces)?,
        text(|r| r.trace_address.as_deref()),
        text(|r| r.error.as_deref()),
        req("status", |r| u64::from(r.status))?,
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        req("block_number", |r| r.block_number)?,
        text(|r| Some(r.block_hash.as_str())),
        text(|r| Some(r.trace_id.as_str())),
        req("trace_index", |r| r.trace_index)?,
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
