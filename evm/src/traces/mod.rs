//! `traces` rows, as ethereum-etl and BigQuery's `crypto_ethereum.traces`: every call, create
//! and self-destruct inside a block's transactions, and the block and uncle rewards where the
//! node reports them. From either of the two traces a node may serve:
//! - `trace_block` (Parity style: Erigon, Reth, Nethermind, anvil), a flat list in call order;
//! - `debug_traceBlockByNumber` with geth's `callTracer`, one call tree per transaction, walked
//!   depth first into the same rows (geth reports no rewards, and names no transaction in old
//!   versions: the header's transaction hashes, by position, do).
//!
//! Both then get ethereum-etl's derived columns: `status` 0 for a failed trace and everything
//! below it, and `trace_id` (`{type}_{tx hash}_{trace address}`, or `{type}_{block}_{n}` for a
//! reward).

use std::collections::{HashMap, HashSet};

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod geth;

pub use geth::{geth_reply_rows, geth_rows, GethFrame, GethTxTrace};

/// One trace of a `trace_block` reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityTrace {
    #[serde(default)]
    pub action: ParityAction,
    /// `null` for a failed call and for rewards and self-destructs.
    #[serde(default)]
    pub result: Option<ParityResult>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub block_hash: Option<B256>,
    #[serde(default)]
    pub subtraces: u64,
    #[serde(default)]
    pub trace_address: Vec<u64>,
    #[serde(default)]
    pub transaction_hash: Option<B256>,
    #[serde(default)]
    pub transaction_position: Option<u64>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// What a Parity trace did; which fields are set depends on its type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityAction {
    pub from: Option<Address>,
    pub to: Option<Address>,
    pub value: Option<U256>,
    pub gas: Option<U64>,
    pub input: Option<Bytes>,
    pub call_type: Option<String>,
    /// A create's init code.
    pub init: Option<Bytes>,
    /// A self-destruct's contract, heir and balance.
    pub address: Option<Address>,
    pub refund_address: Option<Address>,
    pub balance: Option<U256>,
    /// A reward's beneficiary and kind (`block`, `uncle`).
    pub author: Option<Address>,
    pub reward_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityResult {
    pub gas_used: Option<U64>,
    pub output: Option<Bytes>,
    /// A create's deployed code and address.
    pub code: Option<Bytes>,
    pub address: Option<Address>,
}

/// The block the traces are of, from its header.
#[derive(Debug, Clone, Copy)]
pub struct TraceBlock<'a> {
    pub number: u64,
    pub hash: B256,
    pub timestamp: u64,
    /// The block's transaction hashes, in order: what names a geth trace's transaction.
    pub transactions: &'a [B256],
}

/// One row of `traces`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRow {
    pub transaction_hash: Option<String>,
    pub transaction_index: Option<u64>,
    pub from_address: Option<String>,
    pub to_address: Option<String>,
    #[serde(with = "crate::rows::decimal_opt")]
    pub value: Option<U256>,
    pub input: Option<String>,
    pub output: Option<String>,
    /// `call`, `create`, `suicide` or `reward`.
    pub trace_type: String,
    /// `call`, `callcode`, `delegatecall` or `staticcall`, for calls.
    pub call_type: Option<String>,
    pub reward_type: Option<String>,
    pub gas: Option<u64>,
    pub gas_used: Option<u64>,
    pub subtraces: u64,
    /// The path from the transaction's top call, e.g. `1,0`; `None` for the top call.
    pub trace_address: Option<String>,
    pub error: Option<String>,
    /// 0 when this trace or one above it failed (its effects were rolled back).
    pub status: u8,
    pub trace_id: String,
    /// The trace's position in the block's traces, as the node listed them.
    pub trace_index: u64,
    pub block_timestamp: u64,
    pub block_number: u64,
    pub block_hash: String,
}

impl TraceRow {
    pub(crate) fn new(block: &TraceBlock<'_>, block_hash: &str, trace_type: &str, path: &[u64]) -> Self {
        TraceRow {
            transaction_hash: None,
            transaction_index: None,
            from_address: None,
            to_address: None,
            value: None,
            input: None,
            output: None,
            trace_type: trace_type.to_string(),
            call_type: None,
            reward_type: None,
            gas: None,
            gas_used: None,
            subtraces: 0,
            trace_address: (!path.is_empty()).then(|| join(path, ",")),
            error: None,
            status: 1,
            trace_id: String::new(),
            trace_index: 0,
            block_timestamp: block.timestamp,
            block_number: block.number,
            block_hash: block_hash.to_string(),
        }
    }
}

fn join(path: &[u64], sep: &str) -> String {
    path.iter().map(u64::to_string).collect::<Vec<_>>().join(sep)
}

pub(crate) fn addr(a: Option<Address>) -> Option<String> {
    a.map(|a| format!("{a:#x}"))
}

pub(crate) fn hex(b: Option<&Bytes>) -> Option<String> {
    b.map(|b| format!("{b:#x}"))
}

pub(crate) fn error_text(e: Option<&String>) -> Option<String> {
    e.filter(|e| !e.is_empty()).cloned()
}

/// The rows of a `trace_block` reply.
pub fn parity_rows(block: &TraceBlock<'_>, traces: &[ParityTrace]) -> Result<Vec<TraceRow>> {
    let mut rows = Vec::with_capacity(traces.len());
    let block_hash = format!("{:#x}", block.hash);
    for t in traces {
        if let Some(hash) = t.block_hash.filter(|h| *h != block.hash) {
            return Err(Error::Inconsistent {
                block: block.number,
                reason: format!(
                    "trace_block answered for block hash {hash:#x}, the header is {:#x} (reorganised mid-fetch?)",
                    block.hash
                ),
            });
        }
        let (a, result) = (&t.action, t.result.clone().unwrap_or_default());
        let mut row = TraceRow::new(block, &block_hash, &t.kind, &t.trace_address);
        row.transaction_hash = t.transaction_hash.map(|h| format!("{h:#x}"));
        row.transaction_index = t.transaction_position;
        row.subtraces = t.subtraces;
        row.error = error_text(t.error.as_ref());
        match t.kind.as_str() {
            "call" | "create" => {
                row.from_address = addr(a.from);
                row.value = a.value;
                row.gas = a.gas.map(|g| g.to());
                row.gas_used = result.gas_used.map(|g| g.to());
                if t.kind == "call" {
                    row.call_type = a.call_type.clone();
                    row.to_address = addr(a.to);
                    row.input = hex(a.input.as_ref());
                    row.output = hex(result.output.as_ref());
                } else {
                    row.to_address = addr(result.address);
                    row.input = hex(a.init.as_ref());
                    row.output = hex(result.code.as_ref());
                }
            }
            "suicide" => {
                row.from_address = addr(a.address);
                row.to_address = addr(a.refund_address);
                row.value = a.balance;
            }
            "reward" => {
                row.to_address = addr(a.author);
                row.value = a.value;
                row.reward_type = a.reward_type.clone();
            }
            _ => {}
        }
        rows.push(row);
    }
    finish(&mut rows);
    Ok(rows)
}

/// ethereum-etl's derived columns: `trace_index`, `status` and `trace_id`.
pub(crate) fn finish(rows: &mut [TraceRow]) {
    for (i, row) in rows.iter_mut().enumerate() {
        row.trace_index = i as u64;
        if row.error.is_some() {
            row.status = 0;
        }
    }
    // A failed trace rolls back everything it called. Parents come before their children in
    // both sources, but ethereum-etl does not rely on it: shallower traces first.
    let mut order: Vec<usize> = (0..rows.len())
        .filter(|i| rows[*i].transaction_hash.is_some())
        .collect();
    order.sort_by_key(|i| rows[*i].trace_address.as_ref().map_or(0, |a| a.split(',').count()));
    let mut status: Vec<u8> = rows.iter().map(|r| r.status).collect();
    let mut failed: HashSet<(&str, &str)> = HashSet::new();
    for i in order {
        let tx = rows[i].transaction_hash.as_deref().unwrap_or_default();
        let path = rows[i].trace_address.as_deref().unwrap_or_default();
        let parent = path.rsplit_once(',').map_or("", |(p, _)| p);
        if !path.is_empty() && failed.contains(&(tx, parent)) {
            status[i] = 0;
        }
        if status[i] == 0 {
            failed.insert((tx, path));
        }
    }
    for (row, status) in rows.iter_mut().zip(status) {
        row.status = status;
    }
    for row in rows.iter_mut() {
        if let Some(tx) = &row.transaction_hash {
            let path = row.trace_address.as_deref().unwrap_or_default().replace(',', "_");
            row.trace_id = format!("{}_{tx}_{path}", row.trace_type);
        }
    }
    // Block-scoped traces (rewards): numbered per type in a stable order of their contents.
    let mut scoped: Vec<usize> = (0..rows.len())
        .filter(|i| rows[*i].transaction_hash.is_none())
        .collect();
    scoped.sort_by(|a, b| {
        let key = |r: &TraceRow| {
            (
                r.trace_type.clone(),
                r.reward_type.clone(),
                r.from_address.clone(),
                r.to_address.clone(),
                r.value,
            )
        };
        key(&rows[*a]).cmp(&key(&rows[*b]))
    });
    let mut per_type: HashMap<String, u64> = HashMap::new();
    for i in scoped {
        let n = per_type.entry(rows[i].trace_type.clone()).or_default();
        rows[i].trace_id = format!("{}_{}_{}", rows[i].trace_type, rows[i].block_number, n);
        *n += 1;
    }
}
