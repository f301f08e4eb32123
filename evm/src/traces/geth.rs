//! geth's `callTracer` (`debug_traceBlockByNumber`): one call tree per transaction, walked depth
//! first into the rows `trace_block` would list, in the same order.

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use serde::Deserialize;

use super::{addr, error_text, finish, hex, TraceBlock, TraceRow};
use crate::error::{Error, Result};

/// One transaction of a `debug_traceBlockByNumber` reply with `callTracer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GethTxTrace {
    /// Named by newer geth only.
    #[serde(default)]
    pub tx_hash: Option<B256>,
    #[serde(default)]
    pub result: Option<GethFrame>,
    /// Set instead of `result` when the node could not trace the transaction.
    #[serde(default)]
    pub error: Option<String>,
}

/// A call frame of geth's `callTracer`, with the frames it called.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GethFrame {
    #[serde(rename = "type")]
    pub kind: String,
    pub from: Option<Address>,
    pub to: Option<Address>,
    pub value: Option<U256>,
    pub gas: Option<U64>,
    pub gas_used: Option<U64>,
    pub input: Option<Bytes>,
    pub output: Option<Bytes>,
    pub error: Option<String>,
    #[serde(default)]
    pub calls: Vec<GethFrame>,
}

/// The stack a geth call tree's parse and walk get: the EVM nests calls 1024 deep, two JSON
/// levels each, past serde_json's limit of 128 levels (about 60 frames) and, parsed
/// recursively, past a thread's default stack. Reserved, not touched, until a tree is deep.
const DEEP_STACK_BYTES: usize = 256 << 20;

/// The rows of a `debug_traceBlockByNumber` reply, parsed without serde_json's depth limit on a
/// thread whose stack holds the EVM's whole call depth (and dropped there: a deep tree drops
/// recursively too).
pub fn geth_reply_rows(block: &TraceBlock<'_>, raw: &serde_json::value::RawValue) -> Result<Vec<TraceRow>> {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("geth-traces".into())
            .stack_size(DEEP_STACK_BYTES)
            .spawn_scoped(s, || {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                de.disable_recursion_limit();
                match Vec::<GethTxTrace>::deserialize(&mut de) {
                    Ok(traces) => geth_rows(block, &traces),
                    // Parsed again with the path tracking, to name the field.
                    Err(e) => Err(crate::raw::parse::<Vec<GethTxTrace>>(raw, block.number, "traces")
                        .err()
                        .unwrap_or_else(|| Error::MalformedField {
                            block: block.number,
                            object: "traces",
                            field: "<whole reply>".to_string(),
                            reason: e.to_string(),
                        })),
                }
            })
            .map_err(|e| Error::Inconsistent {
                block: block.number,
                reason: format!("no thread to parse its traces on: {e}"),
            })?;
        worker.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// The rows of a parsed `debug_traceBlockByNumber` reply with `callTracer`.
pub fn geth_rows(block: &TraceBlock<'_>, traces: &[GethTxTrace]) -> Result<Vec<TraceRow>> {
    if traces.len() != block.transactions.len() {
        return Err(Error::Inconsistent {
            block: block.number,
            reason: format!(
                "debug_traceBlockByNumber traced {} transactions of {} (reorganised mid-fetch?)",
                traces.len(),
                block.transactions.len()
            ),
        });
    }
    let mut rows = Vec::new();
    let block_hash = format!("{:#x}", block.hash);
    for (index, (tx, hash)) in traces.iter().zip(block.transactions).enumerate() {
        let frame = tx.result.as_ref().ok_or_else(|| Error::Inconsistent {
            block: block.number,
            reason: format!(
                "the node could not trace transaction {hash:#x}: {}",
                tx.error.as_deref().unwrap_or("no result")
            ),
        })?;
        let hash = format!("{:#x}", tx.tx_hash.unwrap_or(*hash));
        let at = Walk {
            block,
            block_hash: &block_hash,
            tx: &hash,
            index: index as u64,
        };
        at.walk(frame, &mut Vec::new(), &mut rows);
    }
    finish(&mut rows);
    Ok(rows)
}

/// One transaction's call tree being walked.
struct Walk<'a> {
    block: &'a TraceBlock<'a>,
    block_hash: &'a str,
    tx: &'a str,
    index: u64,
}

impl Walk<'_> {
    /// Appends `frame` and the frames below it, depth first: the order `trace_block` lists them in.
    fn walk(&self, frame: &GethFrame, path: &mut Vec<u64>, rows: &mut Vec<TraceRow>) {
        let kind = frame.kind.to_ascii_lowercase();
        let (trace_type, call_type) = match kind.as_str() {
            "call" | "callcode" | "delegatecall" | "staticcall" => ("call", Some(kind.clone())),
            // BigQuery's traces know one create; Parity nodes report CREATE2 as `create` too.
            "create" | "create2" => ("create", None),
            "selfdestruct" => ("suicide", None),
            other => (other, None),
        };
        let mut row = TraceRow::new(self.block, self.block_hash, trace_type, path);
        row.transaction_hash = Some(self.tx.to_string());
        row.transaction_index = Some(self.index);
        row.from_address = addr(frame.from);
        row.to_address = addr(frame.to);
        row.value = frame.value;
        row.input = hex(frame.input.as_ref());
        row.output = hex(frame.output.as_ref());
        row.call_type = call_type;
        row.gas = frame.gas.map(|g| g.to());
        row.gas_used = frame.gas_used.map(|g| g.to());
        row.subtraces = frame.calls.len() as u64;
        row.error = error_text(frame.error.as_ref());
        rows.push(row);
        for (i, call) in frame.calls.iter().enumerate() {
            path.push(i as u64);
            self.walk(call, path, rows);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(error: Option<&str>, calls: Vec<GethFrame>) -> GethFrame {
        GethFrame {
            kind: "CALL".into(),
            from: None,
            to: None,
            value: None,
            gas: None,
            gas_used: None,
            input: None,
            output: None,
            error: error.map(str::to_string),
            calls,
        }
    }

    #[test]
    fn a_failed_call_fails_everything_below_it_and_nothing_beside_it() {
        // tx 0: top -> [ok, failed -> [ok -> [ok]]]; tx 1: a lone successful call.
        let deep = frame(Some("Reverted"), vec![frame(None, vec![frame(None, vec![])])]);
        let traces = [
            GethTxTrace {
                tx_hash: None,
                result: Some(frame(None, vec![frame(None, vec![]), deep])),
                error: None,
            },
            GethTxTrace {
                tx_hash: None,
                result: Some(frame(None, vec![])),
                error: None,
            },
        ];
        let hashes = [B256::with_last_byte(1), B256::with_last_byte(2)];
        let block = TraceBlock {
            number: 7,
            hash: B256::ZERO,
            timestamp: 0,
            transactions: &hashes,
        };
        let rows = geth_rows(&block, &traces).unwrap();
        let got: Vec<(Option<&str>, u8)> = rows.iter().map(|r| (r.trace_address.as_deref(), r.status)).collect();
        assert_eq!(
            got,
            vec![
                (None, 1),
                (Some("0"), 1),
                (Some("1"), 0),
                (Some("1,0"), 0),
                (Some("1,0,0"), 0),
                (None, 1)
            ]
        );
        assert_eq!(rows[4].trace_id, format!("call_{:#x}_1_0_0", hashes[0]));
        assert_eq!(
            rows.iter().map(|r| r.trace_index).collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_call_tree_as_deep_as_the_evm_allows_parses() {
        // 1024 nested calls: 2048 JSON levels, sixteen times serde_json's default limit.
        let depth = 1024;
        let tree = format!("{}{}", r#"{"type":"CALL","calls":["#.repeat(depth), "]}".repeat(depth));
        let raw = serde_json::value::RawValue::from_string(format!(r#"[{{"result":{tree}}}]"#)).unwrap();
        let hashes = [B256::with_last_byte(1)];
        let block = TraceBlock {
            number: 7,
            hash: B256::ZERO,
            timestamp: 0,
            transactions: &hashes,
        };
        let rows = geth_reply_rows(&block, &raw).unwrap();
        assert_eq!(rows.len(), depth);
        let deepest = rows.last().unwrap().trace_address.as_deref().unwrap();
        assert_eq!(deepest.split(',').count(), depth - 1);
        // A malformed frame still names its field.
        let bad = serde_json::value::RawValue::from_string(r#"[{"result":{"calls":[]}}]"#.to_string()).unwrap();
        let e = geth_reply_rows(&block, &bad).unwrap_err().to_string();
        assert!(e.contains("result"), "{e}");
    }
}
