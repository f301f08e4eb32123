//! Head-to-topic latency of `chainx block-clock`, for `make bench`: a real Kafka broker, anvil
//! mining a block every second, and the clock polling or following newHeads. An observer takes
//! the moment each head is announced (its own newHeads subscription) and the moment the block's
//! message is readable in the topic (a read_committed consumer); the difference is the latency.
//!
//!     head-latency CHAINX_BINARY BLOCKS [ETHEREUMETL_BINARY]
//!
//! With ethereum-etl's binary, its `stream --output kafka/...` (blocks only, 1 s period) is
//! measured the same way, as the peer. Prints one JSON line per mode:
//! {"mode", "blocks", "p50_ms", "p99_ms", "max_ms"}.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chainx_testkit::anvil::anvil_binary;
use chainx_testkit::free_port;
use chainx_testkit::kafka::Kafka;
use futures::{SinkExt, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use serde_json::{json, Value};

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

type Seen = Arc<Mutex<HashMap<u64, f64>>>;

/// Records when each head is announced on `ws`.
async fn watch_heads(ws: String, seen: Seen) {
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&ws).await else {
        return; // not listening yet: the caller retries
    };
    let sub = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]});
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(sub.to_string()))
        .await
        .unwrap();
    while let Some(Ok(frame)) = socket.next().await {
        let t = now_ms();
        let Ok(text) = frame.to_text() else { continue };
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        if let Some(n) = v["params"]["result"]["number"].as_str() {
            let n = u64::from_str_radix(n.trim_start_matches("0x"), 16).unwrap();
            seen.lock().unwrap().entry(n).or_insert(t);
        }
    }
}

/// `chainx block-clock` polling (the default) or following newHeads.
fn clock(chainx: &str, mode: &str, brokers: &str, network: &str, http: &str, ws: &str) -> std::process::Child {
    let mut c = Command::new(chainx);
    c.args([
        "block-clock",
        "--brokers",
        brokers,
        "--network",
        network,
        "--rpc-url",
        http,
    ])
    .env("CHAINX_LOG", "warn");
    if mode == "ws" {
        c.args(["--ws-url", ws]);
    }
    c.spawn().unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let chainx = args.next().expect("usage: head-latency CHAINX_BINARY BLOCKS");
    let blocks: u64 = args.next().map_or(30, |s| s.parse().unwrap());
    let ethereumetl = args.next();
    let kafka = Kafka::start().await;
    let port = free_port();
    let mut anvil = Command::new(anvil_binary())
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--block-time",
            "1",
            "--silent",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let http = format!("http://127.0.0.1:{port}");
    let ws = format!("ws://127.0.0.1:{port}");
    let heads: Seen = Arc::default();
    // anvil needs a moment to listen; the watcher retries until it connects.
    let watcher = {
        let (ws, heads) = (ws.clone(), heads.clone());
        tokio::spawn(async move {
            loop {
                watch_heads(ws.clone(), heads.clone()).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let watch = async {
        // Any head announced proves anvil and the watcher are up.
        while heads.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), watch)
        .await
        .expect("anvil announced no head within 30 s");

    let mut modes = vec!["poll", "ws"];
    if ethereumetl.is_some() {
        modes.push("ethereum-etl");
    }
    let scratch = tempfile::tempdir().unwrap();
    for mode in modes {
        let network = format!("latency{}", mode.replace('-', ""));
        let (mut clock, topic) = if mode == "ethereum-etl" {
            kafka.create_topic("blocks", 1).await;
            let head = reqwest::Client::new()
                .post(&http)
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let head = u64::from_str_radix(head["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
            let child = Command::new(ethereumetl.as_deref().unwrap())
                .args([
                    "stream",
                    "-e",
                    "block",
                    "--period-seconds",
                    "1",
                    "--provider-uri",
                    &http,
                ])
                .arg("--output")
                .arg(format!("kafka/{}", kafka.brokers))
                .args(["--start-block", &head.to_string(), "-l"])
                .arg(scratch.path().join("last_synced_block.txt"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            (child, "blocks".to_string())
        } else {
            let ok = Command::new(&chainx)
                .args(["topics", "create", "--brokers", &kafka.brokers, "--network", &network])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(ok.success());
            (
                clock(&chainx, mode, &kafka.brokers, &network, &http, &ws),
                format!("{network}.mined.blocks.metadata"),
            )
        };
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &kafka.brokers)
            .set("group.id", format!("latency-{mode}"))
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "5")
            .create()
            .unwrap();
        consumer.subscribe(&[&topic]).unwrap();
        let mut latencies = Vec::new();
        // The first few blocks include start-up (JVM-free, but topic metadata and the first
        // transaction); measure steady state.
        let mut skipped = 0;
        while (latencies.len() as u64) < blocks {
            let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .expect("no block within 30 s")
                .unwrap();
            let t = now_ms();
            let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            let n = v["number"].as_u64().unwrap();
            if skipped < 3 {
                skipped += 1;
                continue;
            }
            if let Some(h) = heads.lock().unwrap().get(&n) {
                latencies.push(t - h);
            }
        }
        let _ = clock.kill();
        let _ = clock.wait();
        latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{}",
            json!({
                "mode": mode,
                "blocks": latencies.len(),
                "p50_ms": percentile(&latencies, 0.5).round(),
                "p99_ms": percentile(&latencies, 0.99).round(),
                "max_ms": latencies.last().unwrap().round(),
            })
        );
    }
    watcher.abort();
    let _ = anvil.kill();
    let _ = anvil.wait();
}
