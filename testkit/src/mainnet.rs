//! Recorded mainnet JSON-RPC replies from ethereum-etl's test suite, read in place from
//! `../shared/fixtures/ethereum-etl` (or `CHAINX_ETL_FIXTURES`), served by [`crate::rpc_server`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::rpc_server::{handler, Handler, Reply};
use crate::workspace_root;

pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var("CHAINX_ETL_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("../shared/fixtures/ethereum-etl"));
    assert!(
        dir.is_dir(),
        "no ethereum-etl fixtures at {} (set CHAINX_ETL_FIXTURES)",
        dir.display()
    );
    dir
}

/// Every `web3_response.<method>_<params>.json` under the fixtures, by `<method>_<params>`.
#[derive(Debug, Default)]
pub struct Recorded {
    results: HashMap<String, Value>,
    head: u64,
    /// Answer `trace_block` with method-not-found, as geth does.
    pub without_trace_block: bool,
    /// Answer `trace_block` without its creates' deployed code: a fault no node tried shows,
    /// which makes the fetcher ask `eth_getCode` (answered from the recorded creates).
    pub without_create_code: bool,
}

fn key(method: &str, params: &Value) -> String {
    let mut parts = vec![method.to_string()];
    for p in params.as_array().cloned().unwrap_or_default() {
        parts.push(match p {
            Value::String(s) => s,
            // `{"tracer": "callTracer"}` is recorded as `tracer_calltracer`, an `eth_call`'s
            // `{"to", "data"}` as `data_<selector>_to_<address>`: fields in name order.
            Value::Object(o) => {
                let mut fields: Vec<String> = o
                    .iter()
                    .map(|(k, v)| format!("{k}_{}", v.as_str().unwrap_or_default()).to_ascii_lowercase())
                    .collect();
                fields.sort();
                fields.join("_")
            }
            other => other.to_string(),
        });
    }
    parts.join("_")
}

impl Recorded {
    pub fn load() -> Recorded {
        let mut rec = Recorded::default();
        let mut stack = vec![fixtures_dir()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().to_string();
                if path.is_dir() {
                    stack.push(path);
                } else if let Some(k) = name
                    .strip_prefix("web3_response.")
                    .and_then(|n| n.strip_suffix(".json"))
                {
                    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                    if k.starts_with("eth_getBlockByNumber_0x") {
                        let n =
                            u64::from_str_radix(v["result"]["number"].as_str().unwrap().trim_start_matches("0x"), 16);
                        rec.head = rec.head.max(n.unwrap());
                    }
                    rec.results.insert(k.to_string(), v["result"].clone());
                }
            }
        }
        rec
    }

    /// The recorded result of a call, if any.
    pub fn result(&self, method: &str, params: &Value) -> Option<&Value> {
        self.results.get(&key(method, params))
    }

    /// Answers one call as the recorded node would have. `eth_getBlockReceipts` is answered from
    /// the per-transaction receipts when `block_receipts` is on and all are recorded; otherwise
    /// with method-not-found, as older nodes do.
    pub fn answer(&self, call: &Value, block_receipts: bool) -> Value {
        let id = call["id"].clone();
        let method = call["method"].as_str().unwrap_or_default();
        let params = &call["params"];
        let not_found = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "the method does not exist/is not available"}});
        let result = match method {
            "eth_blockNumber" => json!(format!("{:#x}", self.head)),
            // Mainnet's: ethereum-etl's recordings of eth_chainId (0x1234) are its mocks'.
            "eth_chainId" => json!("0x1"),
            "trace_block" if self.without_trace_block => return not_found,
            "trace_block" if self.without_create_code => {
                let mut traces = self.result(method, params).cloned().unwrap_or(Value::Null);
                for t in traces.as_array_mut().into_iter().flatten() {
                    if t["type"] == "create" {
                        if let Some(result) = t["result"].as_object_mut() {
                            result.remove("code");
                        }
                    }
                }
                traces
            }
            "eth_getCode" => self
                .result(method, params)
                .cloned()
                .unwrap_or_else(|| self.created_code(&params[0])),
            "eth_getBlockByNumber" if params[1] == json!(false) => self.header(&params[0]),
            "eth_getBlockReceipts" => {
                if !block_receipts {
                    return not_found;
                }
                let Some(block) = self.result("eth_getBlockByNumber", &json!([params[0], true])) else {
                    return json!({"jsonrpc": "2.0", "id": id, "result": null});
                };
                let receipts: Option<Vec<Value>> = block["transactions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|tx| self.result("eth_getTransactionReceipt", &json!([tx["hash"]])).cloned())
                    .collect();
                match receipts {
                    Some(r) => Value::Array(r),
                    None => return not_found,
                }
            }
            _ => self.result(method, params).cloned().unwrap_or(Value::Null),
        };
        json!({"jsonrpc": "2.0", "id": id, "result": result})
    }

    /// The code a recorded `trace_block` create deployed at `address`.
    fn created_code(&self, address: &Value) -> Value {
        let address = address.as_str().unwrap_or_default().to_ascii_lowercase();
        self.results
            .iter()
            .filter(|(k, _)| k.starts_with("trace_block_"))
            .filter_map(|(_, traces)| traces.as_array())
            .flatten()
            .find(|t| {
                t["type"] == "create"
                    && t["result"]["address"].as_str().map(str::to_ascii_lowercase) == Some(address.clone())
            })
            .map_or(Value::Null, |t| t["result"]["code"].clone())
    }

    /// `eth_getBlockByNumber(n, false)`: recorded as such, or the recorded full block with its
    /// transactions' hashes. ethereum-etl's trace exports fetched no header: for their blocks
    /// the header is made up from the recorded traces (hash, transaction hashes by position;
    /// zero timestamp and roots, which no trace test compares).
    fn header(&self, number: &Value) -> Value {
        if let Some(h) = self.result("eth_getBlockByNumber", &json!([number, false])) {
            return h.clone();
        }
        if let Some(full) = self.result("eth_getBlockByNumber", &json!([number, true])) {
            let mut h = full.clone();
            h["transactions"] = full["transactions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["hash"].clone())
                .collect();
            return h;
        }
        let traces = self.result("trace_block", &json!([number]));
        let geth = self.result("debug_traceBlockByNumber", &json!([number, {"tracer": "callTracer"}]));
        if traces.is_none() && geth.is_none() {
            return Value::Null;
        }
        let traces = traces.and_then(Value::as_array).cloned().unwrap_or_default();
        let mut hashes: Vec<(u64, Value)> = traces
            .iter()
            .filter_map(|t| Some((t["transactionPosition"].as_u64()?, t["transactionHash"].clone())))
            .collect();
        hashes.dedup();
        let zero = format!("0x{}", "0".repeat(64));
        let hash = traces.first().map_or(json!(zero), |t| t["blockHash"].clone());
        json!({
            "number": number, "hash": hash, "parentHash": zero, "sha3Uncles": zero,
            "logsBloom": "0x", "transactionsRoot": zero, "stateRoot": zero, "receiptsRoot": zero,
            "miner": format!("0x{}", "0".repeat(40)), "difficulty": "0x0", "extraData": "0x",
            "gasLimit": "0x0", "gasUsed": "0x0", "timestamp": "0x0",
            "transactions": hashes.into_iter().map(|(_, h)| h).collect::<Vec<_>>(),
        })
    }

    pub fn handler(self: Arc<Self>, block_receipts: bool) -> Handler {
        handler(move |request: Value| {
            let rec = self.clone();
            async move {
                match request {
                    Value::Array(calls) => Reply::Json(Value::Array(
                        calls.iter().map(|c| rec.answer(c, block_receipts)).collect(),
                    )),
                    call => Reply::Json(rec.answer(&call, block_receipts)),
                }
            }
        })
    }
}
