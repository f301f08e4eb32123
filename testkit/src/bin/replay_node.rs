//! A JSON-RPC node that answers from a recording, for `make bench`: it serves recorded replies
//! from memory, far faster than a real node computes them, so the benchmark can also compare the
//! clients' own costs (parsing, encoding, writing) rather than the node's.
//!
//!     replay-node RECORDING.jsonl
//!
//! Each line of the recording is `{"key": "<method>|<params as compact JSON>", "result": ...}`.
//! Prints `http://127.0.0.1:PORT` on stdout once listening, then serves until killed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use chainx_testkit::rpc_server::{handler, Reply, RpcServer};
use serde_json::value::RawValue;
use serde_json::Value;

fn answer(recording: &HashMap<String, String>, call: &Value) -> String {
    let key = format!("{}|{}", call["method"].as_str().unwrap_or_default(), call["params"]);
    let id = call["id"].to_string();
    match recording.get(&key) {
        Some(result) => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#),
        None => format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":"not recorded: {key}"}}}}"#),
    }
}

#[tokio::main]
async fn main() {
    let path = std::env::args().nth(1).expect("usage: replay-node RECORDING.jsonl");
    let mut recording = HashMap::new();
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        #[derive(serde::Deserialize)]
        struct Entry {
            key: String,
            result: Box<RawValue>,
        }
        let e: Entry = serde_json::from_str(line).unwrap();
        recording.insert(e.key, e.result.get().to_string());
    }
    let recording = Arc::new(recording);
    let server = RpcServer::start(handler(move |req: Value| {
        let rec = recording.clone();
        async move {
            Reply::Raw(match &req {
                Value::Array(calls) => {
                    format!(
                        "[{}]",
                        calls.iter().map(|c| answer(&rec, c)).collect::<Vec<_>>().join(",")
                    )
                }
                call => answer(&rec, call),
            })
        }
    }))
    .await;
    println!("{}", server.url);
    std::io::stdout().flush().unwrap();
    std::future::pending::<()>().await;
}
