//! Arrow schemas of the lake's tables. Names and meanings follow ethereum-etl and BigQuery's
//! `crypto_ethereum`, so existing queries port; chainx adds `tx_kind` and the partition
//! column `block_date`.
//!
//! Types: wei amounts and difficulties are Decimal(38,0) (exact; Delta and Hive cap decimals at
//! 38 digits, which holds any real balance), timestamps are UTC microseconds, counts are int64.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};

/// Hive partition column of every table: the UTC date of the block.
pub const PARTITION_COLUMN: &str = "block_date";

/// Decimal(38,0): exact, and the widest decimal Delta Lake and Hive accept.
pub const WEI: DataType = DataType::Decimal128(38, 0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableKind {
    Blocks,
    Transactions,
    /// Contract calls decoded by the fast layer's decoder (landed by the sink).
    DecodedCalls,
}

impl TableKind {
    /// The tables with whole-block coverage, written by both the backfill and the sink.
    pub const BLOCK_TABLES: [TableKind; 2] = [TableKind::Blocks, TableKind::Transactions];
    pub const ALL: [TableKind; 3] = [TableKind::Blocks, TableKind::Transactions, TableKind::DecodedCalls];

    pub fn name(self) -> &'static str {
        match self {
            TableKind::Blocks => "blocks",
            TableKind::Transactions => "transactions",
            TableKind::DecodedCalls => "decoded_calls",
        }
    }

    /// The columns naming a row's block: its number and its hash.
    pub fn block_columns(self) -> (&'static str, &'static str) {
        match self {
            TableKind::Blocks => ("number", "hash"),
            TableKind::Transactions | TableKind::DecodedCalls => ("block_number", "block_hash"),
        }
    }

    pub fn block_number_column(self) -> &'static str {
        self.block_columns().0
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            TableKind::Blocks => blocks_schema(),
            TableKind::Transactions => transactions_schema(),
            TableKind::DecodedCalls => decoded_calls_schema(),
        }
    }
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn field(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

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

pub fn blocks_schema() -> SchemaRef {
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
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

pub fn transactions_schema() -> SchemaRef {
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

/// One row per decoded contract call. `args` is the JSON array of `{name, type, value}` (values
/// as strings for integers, so uint256 stays exact), readable with `get_json_object` in Hive.
pub fn decoded_calls_schema() -> SchemaRef {
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
