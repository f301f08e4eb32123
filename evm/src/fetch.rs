//! Blocks with their transactions and receipts, in as few calls as the node allows:
//! `eth_getBlockByNumber(n, true)` plus `eth_getBlockReceipts(n)` per block, batched over many
//! blocks per HTTP request. A node without `eth_getBlockReceipts` (method not found) is
//! remembered, and receipts then come from `eth_getTransactionReceipt` per transaction.
//! Traces, when asked for, are one more call per block in the same request: `trace_block`, or,
//! once a node has said it lacks that, `debug_traceBlockByNumber` with geth's `callTracer`.
//! Tokens, when asked for, are four `eth_call`s for each token those traces created, all of a
//! fetch's in one more request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::error::{Error, Result};
use alloy_primitives::B256;

pub use crate::fetched::FetchedBlock;
use crate::missing_code::fill_missing_code;
use crate::raw::{parse, RpcBlock, RpcReceipt, SkippedLog};
use crate::rpc::{Call, CallError, CallResult, RpcClient, METHOD_NOT_FOUND};
use crate::tokens::read_tokens;
use crate::traces::{geth_reply_rows, parity_rows, ParityTrace, TraceBlock, TraceRow};

/// Calls per HTTP request for per-transaction receipts; providers cap batches (Alchemy and
/// Infura at 1000), and smaller batches retry more cheaply.
const MAX_CALLS_PER_REQUEST: usize = 100;

/// Clones share the client and what was learnt of the node (whether it has
/// `eth_getBlockReceipts`).
#[derive(Debug, Clone)]
pub struct BlockFetcher {
    client: Arc<RpcClient>,
    receipts: bool,
    /// Whether the receipts' logs are read; without them a receipt's `logs` is empty.
    logs: bool,
    block_receipts: Arc<AtomicBool>,
    traces: bool,
    /// Blocks as headers (transaction hashes only), for runs that want only their traces.
    headers_only: bool,
    /// Whether the node has `trace_block`; once it said not, geth's tracer is used.
    parity_traces: Arc<AtomicBool>,
    /// Whether the tokens the traces created are read (`name()`, `symbol()`...).
    tokens: bool,
    /// Whether the node serves the state of old blocks; once it said not, tokens are read at
    /// the newest block.
    historical_state: Arc<AtomicBool>,
}

impl BlockFetcher {
    pub fn new(client: Arc<RpcClient>, receipts: bool) -> Self {
        BlockFetcher {
            client,
            receipts,
            logs: true,
            block_receipts: Arc::new(AtomicBool::new(true)),
            traces: false,
            headers_only: false,
            parity_traces: Arc::new(AtomicBool::new(true)),
            tokens: false,
            historical_state: Arc::new(AtomicBool::new(true)),
        }
    }

    /// A fetcher that also reads the tokens each block's traces created (it fetches traces).
    pub fn with_tokens(mut self) -> Self {
        self.traces = true;
        self.tokens = true;
        self
    }

    /// Whether blocks come with the tokens they created.
    pub fn tokens(&self) -> bool {
        self.tokens
    }

    /// A fetcher that also fetches each block's traces (one more call per block).
    pub fn with_traces(mut self) -> Self {
        self.traces = true;
        self
    }

    /// A fetcher of block headers and traces only: for runs whose tables are made of traces.
    pub fn headers_only(mut self) -> Self {
        self.traces = true;
        self.headers_only = true;
        self
    }

    /// Whether blocks come with their traces.
    pub fn traces(&self) -> bool {
        self.traces
    }

    /// Whether blocks come as headers only.
    pub fn fetches_headers_only(&self) -> bool {
        self.headers_only
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
        self.quantity("eth_blockNumber").await
    }

    /// The chain the node serves, from `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64> {
        self.quantity("eth_chainId").await
    }

    /// The chain the node serves, refused unless it is `want` (the job's `--chain`): every job
    /// checks before it writes or publishes anything.
    pub async fn chain_id_of(&self, want: Option<u64>) -> Result<u64> {
        let got = self.chain_id().await?;
        match want {
            Some(want) if want != got => Err(Error::WrongChain {
                endpoint: self.client.endpoint().to_string(),
                got,
                want,
            }),
            _ => Ok(got),
        }
    }

    /// The number a call without parameters returns.
    async fn quantity(&self, method: &'static str) -> Result<u64> {
        let malformed = |reason: String| Error::MalformedReply {
            endpoint: self.client.endpoint().to_string(),
            what: method.to_string(),
            reason,
        };
        let raw = self
            .client
            .call(method, json!([]))
            .await?
            .ok_or_else(|| malformed("null result".to_string()))?;
        let n: alloy_primitives::U64 = serde_json::from_str(raw.get()).map_err(|e| malformed(e.to_string()))?;
        Ok(n.to())
    }

    /// Fetches `numbers` (typically a few consecutive blocks) in one HTTP request, plus one
    /// more per hundred transactions when the node lacks `eth_getBlockReceipts`.
    pub async fn fetch(&self, numbers: &[u64]) -> Result<Vec<FetchedBlock>> {
        let by_block = self.receipts && self.block_receipts.load(Ordering::Relaxed);
        let parity = self.parity_traces.load(Ordering::Relaxed);
        let mut calls = Vec::with_capacity(numbers.len() * 3);
        for n in numbers {
            calls.push(Call::new("eth_getBlockByNumber", json!([hex(*n), !self.headers_only])));
            if by_block {
                calls.push(Call::new("eth_getBlockReceipts", json!([hex(*n)])));
            }
            if self.traces {
                calls.push(trace_call(*n, parity));
            }
        }
        let results = self.client.batch_all(&calls).await?;
        // Parsing a mainnet block's megabyte of JSON is most of a backfill's work: on the
        // blocking pool, batches parse in parallel with each other and with the rows being
        // encoded, on every core.
        let this = self.clone();
        let wanted = numbers.to_vec();
        let (mut out, need) = tokio::task::spawn_blocking(move || this.parse_fetched(&wanted, by_block, results))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        for i in need.receipts {
            let receipts = self.receipts_per_tx(&out[i].block).await?;
            out[i].receipts = Some(receipts);
        }
        for (i, hashes) in need.traces {
            let n = out[i].number();
            let result = self.client.batch_all(&[trace_call(n, false)]).await?.into_iter().next();
            out[i].traces = Some(self.traces_from(&out[i].block, &hashes, false, result)?);
        }
        if self.traces {
            fill_missing_code(&self.client, &mut out).await?;
        }
        if self.tokens {
            read_tokens(&self.client, &self.historical_state, &mut out).await?;
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
    ) -> Result<(Vec<FetchedBlock>, StillToFetch)> {
        let mut results = results.into_iter();
        let mut out = Vec::with_capacity(numbers.len());
        let mut need = StillToFetch::default();
        let parity = self.parity_traces.load(Ordering::Relaxed);
        for &n in numbers {
            let (block, hashes) = if self.headers_only {
                let header: RpcBlock<B256> = self.block_from(n, results.next())?;
                let hashes = header.transactions.clone();
                (header.without_transactions(), hashes)
            } else {
                let block: RpcBlock = self.block_from(n, results.next())?;
                let hashes = block.transactions.iter().map(|t| t.hash).collect();
                (block, hashes)
            };
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
                                self.client.scrub(&e.message)
                            );
                        }
                        need.receipts.push(out.len());
                        None
                    }
                    other => Some(self.receipts_from(n, &block, other)?),
                }
            } else {
                need.receipts.push(out.len());
                None
            };
            let traces = if !self.traces {
                None
            } else {
                match results.next() {
                    Some(Err(e)) if parity && is_unsupported(&e) => {
                        if self.parity_traces.swap(false, Ordering::Relaxed) {
                            tracing::info!(
                                endpoint = self.client.endpoint(),
                                "trace_block unsupported ({}); using debug_traceBlockByNumber with callTracer",
                                self.client.scrub(&e.message)
                            );
                        }
                        need.traces.push((out.len(), hashes));
                        None
                    }
                    other => Some(self.traces_from(&block, &hashes, parity, other)?),
                }
            };
            out.push(FetchedBlock {
                block,
                receipts,
                traces,
                tokens: None,
                header_only: self.headers_only,
            });
        }
        Ok((out, need))
    }

    /// A block's traces from the reply to [`trace_call`].
    fn traces_from(
        &self,
        block: &RpcBlock,
        hashes: &[B256],
        parity: bool,
        result: Option<CallResult>,
    ) -> Result<Vec<TraceRow>> {
        let n: u64 = block.number.to();
        let method = if parity {
            "trace_block"
        } else {
            "debug_traceBlockByNumber"
        };
        let raw = self
            .unwrap_result(n, method, result)?
            .ok_or_else(|| Error::Inconsistent {
                block: n,
                reason: format!("{method} returned null"),
            })?;
        let at = TraceBlock {
            number: n,
            hash: block.hash,
            timestamp: block.timestamp.to(),
            transactions: hashes,
        };
        if parity {
            parity_rows(&at, &parse::<Vec<ParityTrace>>(&raw, n, "traces")?)
        } else {
            geth_reply_rows(&at, &raw)
        }
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
        if !crate::log_rows::receipts_fit(block, &receipts) {
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
        for txs in block.transactions.chunks(MAX_CALLS_PER_REQUEST) {
            let calls: Vec<Call> = txs
                .iter()
                .map(|tx| Call::new("eth_getTransactionReceipt", json!([format!("{:#x}", tx.hash)])))
                .collect();
            for (tx, result) in txs.iter().zip(self.client.batch_all(&calls).await?) {
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

/// What a batch's replies left to fetch one call at a time: receipts of blocks whose node lacks
/// `eth_getBlockReceipts`, and traces of blocks whose node lacks `trace_block` (with the
/// blocks' transaction hashes, which name geth's traces).
#[derive(Default)]
struct StillToFetch {
    receipts: Vec<usize>,
    traces: Vec<(usize, Vec<B256>)>,
}

/// The call for a block's traces: Parity's `trace_block`, or geth's call tracer.
fn trace_call(n: u64, parity: bool) -> Call {
    if parity {
        Call::new("trace_block", json!([hex(n)]))
    } else {
        Call::new("debug_traceBlockByNumber", json!([hex(n), {"tracer": "callTracer"}]))
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
