//! The lake's datasets, one module each, as cryo has one file per dataset: a module holds the
//! table's name, Arrow schema, block columns, sort keys, what a run must fetch for it, and how
//! its rows become an Arrow batch. The writer, unwind, compaction, Hive DDL, sink and backfill
//! iterate over [`TableKind::ALL`] and ask a table's [`Dataset`].
//!
//! Names and meanings follow ethereum-etl and BigQuery's `crypto_ethereum`, so existing queries
//! port; chainx adds `tx_kind`, the token-standard columns and the partition column
//! `block_date`. Types: wei amounts and difficulties are Decimal(38,0) (exact; Delta and Hive cap
//! decimals at 38 digits, which holds any real balance), token amounts and ids are decimal
//! strings (exact for all of uint256), timestamps are UTC microseconds, counts are int64.

mod blocks;
mod columns;
mod contracts;
mod decoded_calls;
mod decoded_events;
mod logs;
mod out_of_range;
mod token_transfers;
mod tokens;
mod traces;
mod transactions;

use deltalake::arrow::datatypes::{DataType, SchemaRef};

pub use blocks::{
    batch as blocks_batch, schema as blocks_schema, withdrawal_fields, withdrawal_item, withdrawals_type,
};
pub use contracts::{batch as contracts_batch, schema as contracts_schema};
pub use decoded_calls::{batch as decoded_calls_batch, schema as decoded_calls_schema};
pub use decoded_events::{batch as decoded_events_batch, schema as decoded_events_schema};
pub use logs::{batch as logs_batch, schema as logs_schema};
pub use out_of_range::out_of_range_values;
pub use token_transfers::{batch as token_transfers_batch, schema as token_transfers_schema};
pub use tokens::{batch as tokens_batch, schema as tokens_schema};
pub use traces::{batch as traces_batch, schema as traces_schema};
pub use transactions::{batch as transactions_batch, schema as transactions_schema};

/// Hive partition column of every table: the UTC date of the block.
pub const PARTITION_COLUMN: &str = "block_date";

/// Decimal(38,0): exact, and the widest decimal Delta Lake and Hive accept.
pub const WEI: DataType = DataType::Decimal128(38, 0);

/// What a run must fetch from the node for a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fetch {
    /// Blocks with their transactions (receipts only for the `receipt_*` columns).
    Blocks,
    /// The blocks' receipts, for their logs.
    Receipts,
    /// The blocks' traces (`trace_block` or geth's call tracer).
    Traces,
    /// The traces, and `eth_call`s of the tokens their creates made.
    Tokens,
}

/// One dataset's definition.
#[derive(Debug)]
pub struct Dataset {
    pub name: &'static str,
    /// The columns naming a row's block: its number and its hash.
    pub block_columns: (&'static str, &'static str),
    /// The order compaction rewrites a partition in.
    pub sort_keys: &'static [&'static str],
    pub schema: fn() -> SchemaRef,
    pub fetch: Fetch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    Blocks,
    Transactions,
    Logs,
    TokenTransfers,
    DecodedEvents,
    /// Contract calls decoded by the fast layer's decoder (landed by the sink).
    DecodedCalls,
    /// Internal calls, creates, self-destructs and rewards (opt-in: one more call a block).
    Traces,
    /// Every contract a successful create made, from the traces.
    Contracts,
    /// What the ERC-20 and ERC-721 contracts among those say of themselves.
    Tokens,
}

impl TableKind {
    /// The tables the blocks topic feeds in the sink.
    pub const BLOCK_TABLES: [TableKind; 2] = [TableKind::Blocks, TableKind::Transactions];
    pub const ALL: [TableKind; 9] = [
        TableKind::Blocks,
        TableKind::Transactions,
        TableKind::Logs,
        TableKind::TokenTransfers,
        TableKind::DecodedEvents,
        TableKind::DecodedCalls,
        TableKind::Traces,
        TableKind::Contracts,
        TableKind::Tokens,
    ];
    /// What `chainx sink` lands unless `--tables` says otherwise (the traces' tables need the
    /// clock's `--traces`, one call more per block).
    pub const SINK_DEFAULT: [TableKind; 6] = [
        TableKind::Blocks,
        TableKind::Transactions,
        TableKind::Logs,
        TableKind::TokenTransfers,
        TableKind::DecodedEvents,
        TableKind::DecodedCalls,
    ];
    /// What `chainx backfill` lands unless `--tables` says otherwise.
    pub const BACKFILL_DEFAULT: [TableKind; 5] = [
        TableKind::Blocks,
        TableKind::Transactions,
        TableKind::Logs,
        TableKind::TokenTransfers,
        TableKind::DecodedEvents,
    ];

    pub fn dataset(self) -> &'static Dataset {
        match self {
            TableKind::Blocks => &blocks::DATASET,
            TableKind::Transactions => &transactions::DATASET,
            TableKind::Logs => &logs::DATASET,
            TableKind::TokenTransfers => &token_transfers::DATASET,
            TableKind::DecodedEvents => &decoded_events::DATASET,
            TableKind::DecodedCalls => &decoded_calls::DATASET,
            TableKind::Traces => &traces::DATASET,
            TableKind::Contracts => &contracts::DATASET,
            TableKind::Tokens => &tokens::DATASET,
        }
    }

    pub fn name(self) -> &'static str {
        self.dataset().name
    }

    /// The table of this name.
    pub fn from_name(name: &str) -> Option<TableKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The columns naming a row's block: its number and its hash.
    pub fn block_columns(self) -> (&'static str, &'static str) {
        self.dataset().block_columns
    }

    pub fn block_number_column(self) -> &'static str {
        self.block_columns().0
    }

    /// The columns whose min/max values the Delta log keeps for each file
    /// (`delta.dataSkippingStatsColumns`): the block number and timestamp, what unwinds,
    /// compaction and range queries skip files by. Delta's default, the first 32 columns, put
    /// hashes, addresses and calldata prefixes in every file's stats, where their min/max rule
    /// out nothing, and a sink at the head parsed them over and over reading its log: spikes of
    /// up to 230 MB after six simulated hours (testkit's `simulated_day`, heaptrack).
    pub fn stats_columns(self) -> String {
        let timestamp = if self == TableKind::Blocks {
            "timestamp"
        } else {
            "block_timestamp"
        };
        format!("{},{timestamp}", self.block_number_column())
    }

    pub fn schema(self) -> SchemaRef {
        (self.dataset().schema)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_columns_are_columns_of_the_table() {
        for kind in TableKind::ALL {
            let schema = kind.schema();
            for column in kind.stats_columns().split(',') {
                assert!(
                    schema.field_with_name(column).is_ok(),
                    "{}: no column {column}",
                    kind.name()
                );
            }
        }
    }

    #[test]
    fn every_dataset_names_columns_its_schema_has() {
        for kind in TableKind::ALL {
            let schema = kind.schema();
            let d = kind.dataset();
            assert_eq!(TableKind::from_name(d.name), Some(kind));
            for c in [d.block_columns.0, d.block_columns.1, PARTITION_COLUMN]
                .iter()
                .chain(d.sort_keys)
            {
                assert!(schema.field_with_name(c).is_ok(), "{}: no column {c}", d.name);
            }
        }
    }
}
