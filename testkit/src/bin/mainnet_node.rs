//! The mainnet-shaped node for `make bench`, and the transfer floor measured against it.
//!
//!     mainnet_node serve HEAD [PACE_MS]
//!         serves blocks 0..=HEAD (one more every PACE_MS); prints its URL once listening
//!     mainnet_node rendered FROM HEAD
//!         the same, with blocks FROM..=HEAD rendered before it listens and served as text
//!     mainnet_node floor URL FROM TO [BATCH_BLOCKS] [PARALLEL]
//!         downloads blocks FROM..=TO with their receipts as a backfill does (BATCH_BLOCKS
//!         blocks per HTTP request, PARALLEL requests in flight: 10 and 16, chainx's defaults)
//!         and throws the replies away; prints {"seconds": S, "bytes": B}
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::time::{Duration, Instant};

use chainx_testkit::mainnet_node::MainnetNode;
use futures::StreamExt;
use serde_json::json;

fn arg(args: &[String], i: usize, what: &str) -> u64 {
    args.get(i)
        .unwrap_or_else(|| panic!("missing {what}"))
        .parse()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn floor(url: &str, from: u64, to: u64, batch: u64, parallel: usize) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let groups: Vec<(u64, u64)> = (from..=to)
        .step_by(batch as usize)
        .map(|a| (a, (a + batch - 1).min(to)))
        .collect();
    let bytes: usize = futures::stream::iter(groups)
        .map(|(a, b)| {
            let client = client.clone();
            async move {
                let mut calls = Vec::new();
                for n in a..=b {
                    let tag = format!("{n:#x}");
                    calls.push(json!({"jsonrpc": "2.0", "id": calls.len(), "method": "eth_getBlockByNumber", "params": [tag, true]}));
                    calls.push(json!({"jsonrpc": "2.0", "id": calls.len(), "method": "eth_getBlockReceipts", "params": [tag]}));
                }
                let reply = client.post(url).json(&calls).send().await.unwrap();
                reply.bytes().await.unwrap().len()
            }
        })
        .buffer_unordered(parallel)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    println!(
        "{}",
        json!({"seconds": started.elapsed().as_secs_f64(), "bytes": bytes})
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => {
            let head = arg(&args, 2, "HEAD");
            let pace = args.get(3).map(|_| Duration::from_millis(arg(&args, 3, "PACE_MS")));
            let node = MainnetNode::start(head, pace).await;
            println!("{}", node.url);
            std::io::stdout().flush().unwrap();
            std::future::pending::<()>().await;
        }
        Some("rendered") => {
            let node = MainnetNode::start_rendered(arg(&args, 2, "FROM"), arg(&args, 3, "HEAD")).await;
            println!("{}", node.url);
            std::io::stdout().flush().unwrap();
            std::future::pending::<()>().await;
        }
        Some("floor") => {
            let url = args.get(2).expect("missing URL");
            let (from, to) = (arg(&args, 3, "FROM"), arg(&args, 4, "TO"));
            let batch = args.get(5).map_or(10, |_| arg(&args, 5, "BATCH_BLOCKS"));
            let parallel = args.get(6).map_or(16, |_| arg(&args, 6, "PARALLEL") as usize);
            floor(url, from, to, batch, parallel).await;
        }
        _ => panic!(
            "usage: mainnet_node serve HEAD [PACE_MS] | rendered FROM HEAD | floor URL FROM TO [BATCH_BLOCKS] [PARALLEL]"
        ),
    }
}
