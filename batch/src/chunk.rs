//! Fetched blocks as rows of the tables a run lands: blocks, transactions and decoded calls
//! from the blocks; logs, token transfers and decoded events from the receipts' logs; traces
//! and contracts from the traces, and tokens from what their calls read.

use chainx_evm::contracts::contracts_of;
use chainx_evm::{
    decode_events, AbiRegistry, BlockRow, ContractRow, DecodedCallRow, DecodedEventRow, FetchedBlock, LogRow, TokenRow,
    TokenTransferRow, TraceRow, TransactionRow, TxKind,
};
use chainx_tables::arrow::array::RecordBatch;
use chainx_tables::{
    blocks_batch, contracts_batch, decoded_calls_batch, decoded_events_batch, logs_batch, token_transfers_batch,
    tokens_batch, traces_batch, transactions_batch, TableKind,
};

use crate::{Error, Result};

/// The logs of a block fetched with its receipts.
fn logs_of(f: &FetchedBlock, number: u64) -> Result<Vec<chainx_evm::BlockLog>> {
    f.logs()?.ok_or_else(|| {
        Error::Config(format!(
            "block {number} was fetched without receipts, which hold its logs"
        ))
    })
}

/// One slice's rows, for the tables asked for (the others stay empty).
#[derive(Debug, Default)]
pub(crate) struct ChunkRows {
    pub blocks: Vec<BlockRow>,
    pub transactions: Vec<TransactionRow>,
    pub logs: Vec<LogRow>,
    pub token_transfers: Vec<TokenTransferRow>,
    pub decoded_events: Vec<DecodedEventRow>,
    pub decoded_calls: Vec<DecodedCallRow>,
    pub traces: Vec<TraceRow>,
    pub contracts: Vec<ContractRow>,
    pub tokens: Vec<TokenRow>,
    /// Logs of an event some ABI knows whose topics or data do not decode as it.
    pub events_undecodable: u64,
}

/// The tables made from the fetched data alone, which any thread can encode; the decoded
/// tables need the ABI registry (and maybe Etherscan) of the landing side.
pub(crate) fn is_plain(kind: TableKind) -> bool {
    !matches!(kind, TableKind::DecodedEvents | TableKind::DecodedCalls)
}

impl ChunkRows {
    /// The rows of the plain tables among `tables` ([`is_plain`]).
    /// The blocks' traces move into the rows: nothing after the plain tables reads them.
    pub(crate) fn plain(fetched: &mut [FetchedBlock], tables: &[TableKind]) -> Result<Self> {
        let wants = |k| tables.contains(&k);
        let mut rows = ChunkRows::default();
        for f in fetched {
            if wants(TableKind::Tokens) {
                let tokens = f
                    .tokens
                    .take()
                    .ok_or_else(|| Error::Config(format!("block {} was fetched without its tokens", f.number())))?;
                rows.tokens.extend(tokens);
            }
            if wants(TableKind::Traces) || wants(TableKind::Contracts) {
                let traces = f
                    .traces
                    .take()
                    .ok_or_else(|| Error::Config(format!("block {} was fetched without its traces", f.number())))?;
                if wants(TableKind::Contracts) {
                    rows.contracts.extend(contracts_of(&traces));
                }
                if wants(TableKind::Traces) {
                    rows.traces.extend(traces);
                }
            }
            if f.header_only {
                continue;
            }
            let (block, txs) = f.to_rows()?;
            if wants(TableKind::Logs) || wants(TableKind::TokenTransfers) {
                let logs = logs_of(f, block.number)?;
                if wants(TableKind::TokenTransfers) {
                    rows.token_transfers
                        .extend(logs.iter().flat_map(|l| l.token_transfers()));
                }
                if wants(TableKind::Logs) {
                    rows.logs.extend(logs.into_iter().map(|l| l.row));
                }
            }
            if wants(TableKind::Transactions) {
                rows.transactions.extend(txs);
            }
            rows.blocks.push(block);
        }
        Ok(rows)
    }

    /// The rows of the decoded tables among `tables`.
    pub(crate) async fn decoded(
        fetched: &[FetchedBlock],
        tables: &[TableKind],
        abis: &mut AbiRegistry,
    ) -> Result<Self> {
        let mut rows = ChunkRows::default();
        for f in fetched {
            if tables.contains(&TableKind::DecodedEvents) {
                let logs = logs_of(f, f.number())?;
                let (events, undecodable) = decode_events(abis, &logs).await;
                rows.decoded_events.extend(events);
                rows.events_undecodable += undecodable;
            }
            if tables.contains(&TableKind::DecodedCalls) {
                // The transaction rows again (the plain tables' were encoded where the block was
                // parsed): only the calls need them. The stream's decoder reads the contract
                // interactions alone: so does this.
                let (_, txs) = f.to_rows()?;
                for tx in txs.iter().filter(|t| t.tx_kind == TxKind::ContractInteraction) {
                    let call = abis
                        .decode(tx.to_address.as_deref().unwrap_or_default(), &tx.input)
                        .await;
                    rows.decoded_calls.push(DecodedCallRow::new(tx, call));
                }
            }
        }
        Ok(rows)
    }

    /// The rows of `kind` as one Arrow batch.
    pub(crate) fn batch(&self, kind: TableKind) -> Result<RecordBatch> {
        Ok(match kind {
            TableKind::Blocks => blocks_batch(&self.blocks)?,
            TableKind::Transactions => transactions_batch(&self.transactions)?,
            TableKind::Logs => logs_batch(&self.logs)?,
            TableKind::TokenTransfers => token_transfers_batch(&self.token_transfers)?,
            TableKind::DecodedEvents => decoded_events_batch(&self.decoded_events)?,
            TableKind::DecodedCalls => decoded_calls_batch(&self.decoded_calls)?,
            TableKind::Traces => traces_batch(&self.traces)?,
            TableKind::Contracts => contracts_batch(&self.contracts)?,
            TableKind::Tokens => tokens_batch(&self.tokens)?,
        })
    }
}
