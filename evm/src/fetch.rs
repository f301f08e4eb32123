//! Blocks with their transactions and receipts, in as few calls as the node allows:
//! `eth_getBlockByNumber(n, true)` plus `eth_getBlockReceipts(n)` per block, batched over many
//! blocks per HTTP request. A node without `eth_getBlockReceipts` (method not found) is
//! remembered, and receipts then come from `eth_getTransactionReceipt` per transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::error::{Error, Result};
use alloy_primitives::B256;

use crate::raw::{parse, RpcBlock, RpcReceipt, SkippedLog};
use crate::rows::{BlockRow, TransactionRow};
use crate::rpc::{Call, CallError, CallResult, RpcClient, METHOD_NOT_FOUND};

/// Calls per HTTP request for per-transaction receipts; providers cap batches (Alchemy and
/// Infura at 1000), and smaller batches retry more cheaply.
const MAX_CALLS_PER_REQUEST: usize = 100;

#[derive(Debug, Clone)]
pub struct FetchedBlock {
    pub block: RpcBlock,
    /// `None` when receipts were not asked for.
    pub receipts: Option<Vec<RpcReceipt>>,
}

impl FetchedBlock {
    pub fn number(&self) -> u64 {
        self.block.number.to()
    }

    /// The block's logs, from its receipts; `None` when receipts were not fetched.
    pub fn logs(&self) -> Result<Option<Vec<crate::log_rows::BlockLog>>> {
        self.receipts
            .as_ref()
            .map(|r| crate::log_rows::block_logs(&self.block, r))
            .transpose()
    }

    /// About how many bytes the block takes in memory, parsed: what sizes a backfill's slices.
    pub fn approx_bytes(&self) -> u64 {
        let txs: usize = self.block.transactions.iter().map(|t| 400 + t.input.len()).sum();
        let receipts: usize = self
            .receipts
            .iter()
            .flatten()
            .map(|r| {
                300 + r
                    .logs
                    .iter()
                    .map(|l| 150 + l.data.len() + 32 * l.topics.len())
                    .sum::<usize>()
            })
            .sum();
        (2_000 + txs + receipts) as u64
    }

    pub fn to_rows(&self) -> Result<(BlockRow, Vec<TransactionRow>)> {
        let block = BlockRow::from_rpc(&self.block);
        let txs = self
            .block
            .transactions
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                let receipt = self.receipts.as_ref().and_then(|r| r.get(i));
                TransactionRow::from_rpc(&self.block, i, tx, receipt)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((block, txs))
    }
}

/// Clones share the client and what was learnt of the node (whether it has
/// `eth_getBlockReceipts`).
#[derive(Debug, Clone)]
pub struct BlockFetcher {
    client: Arc<RpcClient>,
    receipts: bool,
    /// Whether the receipts' logs are read; without them a receipt's `logs` is empty.
    logs: bool,
    block_receipts: Arc<AtomicBool>,
}

impl BlockFetcher {
    pub fn new(client: Arc<RpcClient>, receipts: bool) -> Self {
        BlockFetcher {
            client,
            receipts,
            logs: true,
            block_receipts: Arc::new(AtomicBool::new(true)),
        }
    }

    /// A fetcher whose receipts come without their logs (read past, not decoded): for readers
    /// that need only the receipts' gas, status and contract address.
    pub fn without_logs(mut self) -> Self {
        self.logs = false;
        self
    }

    /// Whether receipts come with their logs.
    pub fn logs(&self) -> bool {
        self.logs
    }

    /// Whether blocks come with their receipts.
    pub fn receipts(&self) -> bool {
        self.receipts
    }

    pub fn client(&self) -> &Arc<RpcClient> {
        &self.client
    }

    /// The chain head, from `eth_blockNumber`.
    pub async fn head(&self) -> Result<u64> {
        let raw = self.client.call("eth_blockNumber", json!([])).await?;
        let raw = raw.ok_or_else(|| Error::MalformedReply {
            endpoint: self.client.endpoint().to_string(),
            what: "eth_blockNumber".to_string(),
            reason: "null result".to_string(),
        })?;
        let n: alloy_primitives::U64 = serde_json::from_str(raw.get()).map_err(|e| Error::MalformedReply {
            endpoint: self.client.endpoint().to_string(),
            what: "eth_blockNumber".to_string(),
            reason: e.to_string(),
        })?;
        Ok(n.to())
    }

    /// Fetches `numbers` (typically a few consecutive blocks) in one HTTP request, plus one
    /// more per hundred transactions when the node lacks `eth_getBlockReceipts`.
    pub async fn fetch(&self, numbers: &[u64]) -> Result<Vec<FetchedBlock>> {
        let by_block = self.receipts && self.block_receipts.load(Ordering::Relaxed);
        let per_block = if by_block { 2 } else { 1 };
        let mut calls = Vec::with_capacity(numbers.len() * per_block);
        for n in numbers {
            calls.push(Call::new("eth_getBlockByNumber", json!([hex(*n), true])));
            if by_block {
                calls.push(Call::new("eth_getBlockReceipts", json!([hex(*n)])));
            }
        }
        let results = self.client.batch_all(&calls).await?;
        // Parsing a mainnet block's megabyte of JSON is most of a backfill's work: on the
        // blocking pool, batches parse in parallel with each other and with the rows being
        // encoded, on every core.
        let this = self.clone();
        let wanted = numbers.to_vec();
        let (mut out, need_receipts) =
            tokio::task::spawn_blocking(move || this.parse_fetched(&wanted, by_block, results))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        for i in need_receipts {
            let receipts = self.receipts_per_tx(&out[i].block).await?;
            out[i].receipts = Some(receipts);
        }
        Ok(out)
    }

    /// The replies to [`BlockFetcher::fetch`]'s batch as blocks, and the positions of those
    /// whose receipts are still to fetch one by one.
    fn parse_fetched(
        &self,
        numbers: &[u64],
        by_block: bool,
        results: Vec<CallResult>,
    ) -> Result<(Vec<FetchedBlock>, Vec<usize>)> {
        let mut results = results.into_iter();
        let mut out = Vec::with_capacity(numbers.len());
        let mut need_receipts = Vec::new();
        for &n in numbers {
            let block = self.block_from(n, results.next())?;
            let receipts = if !self.receipts {
                None
            } else if by_block {
                match results.next() {
                    Some(Err(e)) if is_unsupported(&e) => {
                        // Remembered for the rest of the run: one wasted call, not one per block.
                        if self.block_receipts.swap(false, Ordering::Relaxed) {
                            tracing::info!(
                                endpoint = self.client.endpoint(),
                                "eth_getBlockReceipts unsupported ({}); using eth_getTransactionReceipt",
                                e.message
                            );
                        }
                        need_receipts.push(out.len());
                        None
                    }
                    other => Some(self.receipts_from(n, &block, other)?),
                }
            } else {
                need_receipts.push(out.len());
                None
            };
            out.push(FetchedBlock { block, receipts });
        }
        Ok((out, need_receipts))
    }

    /// Blocks with transaction hashes only (`eth_getBlockByNumber(n, false)`): one call per
    /// block, all in one HTTP request (split at the provider's batch limit).
    pub async fn fetch_headers(&self, numbers: &[u64]) -> Result<Vec<RpcBlock<B256>>> {
        let calls: Vec<Call> = numbers
            .iter()
            .map(|n| Call::new("eth_getBlockByNumber", json!([hex(*n), false])))
            .collect();
        let results = self.client.batch_all(&calls).await?;
        numbers
            .iter()
            .zip(results)
            .map(|(&n, r)| self.block_from(n, Some(r)))
            .collect()
    }

    /// The newest block's header (`eth_getBlockByNumber("latest", false)`): its number and hash
    /// in one call, so a reorg at the tip shows even when the height did not move.
    pub async fn latest(&self) -> Result<RpcBlock<B256>> {
        self.tagged("latest").await
    }

    /// The header of the block a tag names: `latest`, `safe` or `finalized`.
    pub async fn tagged(&self, tag: &'static str) -> Result<RpcBlock<B256>> {
        let raw = self
            .client
            .call("eth_getBlockByNumber", json!([tag, false]))
            .await?
            .ok_or_else(|| Error::MalformedReply {
                endpoint: self.client.endpoint().to_string(),
                what: format!("eth_getBlockByNumber({tag})"),
                reason: "null result".to_string(),
            })?;
        parse(&raw, 0, tag)
    }

    fn block_from<T: serde::de::DeserializeOwned>(&self, n: u64, result: Option<CallResult>) -> Result<RpcBlock<T>> {
        let raw = self
            .unwrap_result(n, "eth_getBlockByNumber", result)?
            .ok_or(Error::MissingBlock { block: n })?;
        let block: RpcBlock<T> = parse(&raw, n, "block")?;
        if block.number.to::<u64>() != n {
            return Err(Error::Inconsistent {
                block: n,
                reason: format!("the node returned block {} instead", block.number),
            });
        }
        Ok(block)
    }

    fn receipts_from(&self, n: u64, block: &RpcBlock, result: Option<CallResult>) -> Result<Vec<RpcReceipt>> {
        let raw = self
            .unwrap_result(n, "eth_getBlockReceipts", result)?
            .ok_or_else(|| Error::Inconsistent {
                block: n,
                reason: "eth_getBlockReceipts returned null".to_string(),
            })?;
        let receipts: Vec<RpcReceipt> = if self.logs {
            parse(&raw, n, "receipts")?
        } else {
            let skipped: Vec<RpcReceipt<SkippedLog>> = parse(&raw, n, "receipts")?;
            skipped.into_iter().map(RpcReceipt::from).collect()
        };
        if receipts.len() != block.transactions.len() {
            return Err(Error::Inconsistent {
                block: n,
                reason: format!(
                    "{} receipts for {} transactions (was the block reorganised mid-fetch?)",
                    receipts.len(),
                    block.transactions.len()
                ),
            });
        }
        Ok(receipts)
    }

    async fn receipts_per_tx(&self, block: &RpcBlock) -> Result<Vec<RpcReceipt>> {
        let n: u64 = block.number.to();
        let mut receipts = Vec::with_capacity(block.transactions.len());
        for txs in block
            .transactions
            .chunks(MAX_CALLS_PER_REQUEST.min(self.client.max_calls_per_request()))
        {
            let calls: Vec<Call> = txs
                .iter()
                .map(|tx| Call::new("eth_getTransactionReceipt", json!([format!("{:#x}", tx.hash)])))
                .collect();
            for (tx, result) in txs.iter().zip(self.client.batch(&calls).await?) {
                let raw = self
                    .unwrap_result(n, "eth_getTransactionReceipt", Some(result))?
                    .ok_or_else(|| Error::Inconsistent {
                        block: n,
                        reason: format!("no receipt for transaction {:#x}", tx.hash),
                    })?;
                receipts.push(if self.logs {
                    parse(&raw, n, "receipt")?
                } else {
                    parse::<RpcReceipt<SkippedLog>>(&raw, n, "receipt")?.into()
                });
            }
        }
        Ok(receipts)
    }

    fn unwrap_result(
        &self,
        n: u64,
        method: &str,
        result: Option<CallResult>,
    ) -> Result<Option<Box<serde_json::value::RawValue>>> {
        match result {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(Error::Rpc {
                endpoint: self.client.endpoint().to_string(),
                method: format!("{method}(block {n})"),
                code: e.code,
                message: self.client.scrub(&e.message),
            }),
            None => Err(Error::MalformedReply {
                endpoint: self.client.endpoint().to_string(),
                what: format!("{method}(block {n})"),
                reason: "missing from the batch reply".to_string(),
            }),
        }
    }
}

fn is_unsupported(e: &CallError) -> bool {
    let m = e.message.to_ascii_lowercase();
    e.code == METHOD_NOT_FOUND
        || m.contains("method not found")
        || m.contains("not supported")
        || m.contains("does not exist")
        || m.contains("not available")
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}
