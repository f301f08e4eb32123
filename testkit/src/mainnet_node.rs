//! A node serving mainnet-shaped blocks for any range, made on the fly (no disk): about 150
//! transactions and 350 logs a block, EIP-1559 and legacy transactions, calldata of real sizes
//! (ERC-20 transfers, router swaps, large contract calls), receipts with logs and blooms,
//! consistent parent hashes and unique transaction hashes. It answers batches,
//! `eth_getBlockByNumber`, `eth_getBlockReceipts`, `eth_getTransactionReceipt`, `eth_getLogs`,
//! `trace_block`, `eth_blockNumber` and `eth_chainId`, and can grow its head at a set pace for
//! the stream.
//!
//! Every value is a pure function of the block number and the transaction's position, so a test
//! can ask the node itself (its `eth_getLogs`, its blocks) what the lake must hold.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::mainnet_shape::{quantity, MainnetShape, TXS_PER_BLOCK};
use crate::rpc_server::{handler, Reply, RpcServer};

/// The node: a real HTTP JSON-RPC server over [`MainnetShape`], blocks `0..=head`.
#[derive(Debug)]
pub struct MainnetNode {
    pub server: RpcServer,
    pub url: String,
    head: Arc<AtomicU64>,
    growth: Option<tokio::task::JoinHandle<()>>,
}

fn number(v: &Value, head: u64) -> Option<u64> {
    match v.as_str()? {
        "latest" | "finalized" | "safe" | "pending" => Some(head),
        "earliest" => Some(0),
        hex => u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok(),
    }
}

fn answer(call: &Value, head: u64) -> Value {
    let chain = MainnetShape;
    let id = call["id"].clone();
    let p = &call["params"];
    let result = match call["method"].as_str().unwrap_or_default() {
        "eth_blockNumber" => json!(quantity(head)),
        "eth_chainId" => json!("0x1"),
        "eth_getBlockByNumber" => match number(&p[0], head) {
            Some(n) if n <= head => chain.block(n, p[1].as_bool().unwrap_or(false)),
            _ => Value::Null,
        },
        "eth_getBlockReceipts" => match number(&p[0], head) {
            Some(n) if n <= head => chain.receipts(n),
            _ => Value::Null,
        },
        "trace_block" => match number(&p[0], head) {
            Some(n) if n <= head => chain.traces(n),
            _ => Value::Null,
        },
        "eth_getTransactionReceipt" => match p[0].as_str().and_then(MainnetShape::from_tx_hash) {
            Some((n, i)) if n <= head && i < TXS_PER_BLOCK => chain.receipt(n, i),
            _ => Value::Null,
        },
        "eth_getTransactionByHash" => match p[0].as_str().and_then(MainnetShape::from_tx_hash) {
            Some((n, i)) if n <= head && i < TXS_PER_BLOCK => chain.transaction(n, i),
            _ => Value::Null,
        },
        "eth_getLogs" => {
            let filter = &p[0];
            let from = number(&filter["fromBlock"], head).unwrap_or(head);
            let to = number(&filter["toBlock"], head).unwrap_or(head).min(head);
            let address = filter["address"].as_str();
            let topic0 = filter["topics"][0].as_str();
            json!(chain.logs(from, to, address, topic0))
        }
        other => {
            return json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("the method {other} does not exist/is not available")}})
        }
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Full blocks and block receipts of a range, rendered once as JSON text.
type Rendered = std::collections::HashMap<(bool, u64), String>;

fn render(from: u64, to: u64) -> Rendered {
    let numbers: Vec<u64> = (from..=to).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let parts: Vec<Rendered> = std::thread::scope(|scope| {
        let workers: Vec<_> = numbers
            .chunks(numbers.len().div_ceil(threads).max(1))
            .map(|part| {
                scope.spawn(move || {
                    let mut out = Rendered::new();
                    for n in part {
                        out.insert((true, *n), MainnetShape.block(*n, true).to_string());
                        out.insert((false, *n), MainnetShape.receipts(*n).to_string());
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    parts.into_iter().flatten().collect()
}

/// One call's reply as text: from `rendered` when it holds it, else made now.
fn answer_text(call: &Value, head: u64, rendered: &Rendered) -> String {
    let n = number(&call["params"][0], head).filter(|n| *n <= head);
    let key = match call["method"].as_str() {
        Some("eth_getBlockByNumber") if call["params"][1] == true => n.map(|n| (true, n)),
        Some("eth_getBlockReceipts") => n.map(|n| (false, n)),
        _ => None,
    };
    match key.and_then(|k| rendered.get(&k)) {
        Some(result) => format!(r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#, call["id"]),
        None => answer(call, head).to_string(),
    }
}

impl MainnetNode {
    /// A node whose head is `head`; with `pace`, one more block every `pace`.
    pub async fn start(head: u64, pace: Option<Duration>) -> MainnetNode {
        Self::serve(head, pace, Arc::new(Rendered::new())).await
    }

    /// A node whose blocks `from..=head` and their receipts are rendered before it listens
    /// (about 0.9 MB of memory a block) and then served as text, as fast as a recording: for
    /// benchmarks, where the clients' own costs should decide rather than the node's.
    pub async fn start_rendered(from: u64, head: u64) -> MainnetNode {
        let rendered = tokio::task::spawn_blocking(move || render(from, head)).await.unwrap();
        Self::serve(head, None, Arc::new(rendered)).await
    }

    async fn serve(head: u64, pace: Option<Duration>, rendered: Arc<Rendered>) -> MainnetNode {
        let at = Arc::new(AtomicU64::new(head));
        let served = at.clone();
        let server = RpcServer::start(handler(move |request: Value| {
            let head = served.load(Ordering::SeqCst);
            let rendered = rendered.clone();
            async move {
                match request {
                    Value::Array(calls) => {
                        let replies: Vec<String> = calls.iter().map(|c| answer_text(c, head, &rendered)).collect();
                        Reply::Raw(format!("[{}]", replies.join(",")))
                    }
                    call => Reply::Raw(answer_text(&call, head, &rendered)),
                }
            }
        }))
        .await;
        let growth = pace.map(|pace| {
            let at = at.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(pace);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    at.fetch_add(1, Ordering::SeqCst);
                }
            })
        });
        let url = server.url.clone();
        MainnetNode {
            server,
            url,
            head: at,
            growth,
        }
    }

    pub fn head(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    /// The result of one JSON-RPC call to the node, over HTTP as a client makes it.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let reply: Value = reqwest::Client::new()
            .post(&self.url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["result"].clone()
    }
}

impl Drop for MainnetNode {
    fn drop(&mut self) {
        if let Some(g) = &self.growth {
            g.abort();
        }
    }
}
