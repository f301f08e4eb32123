//! Faults a real node cannot be made to show (429, 5xx, resets, truncated or malformed bodies,
//! a missing method), injected by a proxy in front of a real anvil node: the proxy is the fake,
//! everything behind it is real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use chainx_tables::TableKind;
use chainx_testkit::anvil::{manifest, Anvil};
use chainx_testkit::rpc_server::{forward, handler, Reply, RpcServer};
use common::{assert_exactly, coverage, delta_rows, hive_rows, rpc, run};
use serde_json::{json, Value};

/// A proxy to anvil that applies `fault(n, request)` to the n-th HTTP request (from 0); `None`
/// forwards it unchanged.
async fn faulty_proxy<F>(upstream: &str, fault: F) -> RpcServer
where
    F: Fn(u64, &Value) -> Option<Reply> + Send + Sync + 'static,
{
    let upstream = upstream.to_string();
    let seen = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let fault = Arc::new(fault);
    RpcServer::start(handler(move |req: Value| {
        let (upstream, client, fault) = (upstream.clone(), client.clone(), fault.clone());
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            match fault(n, &req) {
                Some(reply) => reply,
                None => forward(&client, &upstream, &req).await,
            }
        }
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_nothing_is_lost() {
    let anvil = Anvil::fixture().await;
    // Every third request fails, cycling through the transient faults providers show.
    let proxy = faulty_proxy(&anvil.url, |n, _| match n % 15 {
        2 => Some(Reply::Status(429, "rate limited".into())),
        14 => Some(Reply::Stall),
        5 => Some(Reply::Status(503, "unavailable".into())),
        8 => Some(Reply::Hangup),
        11 => Some(Reply::Raw(
            "[{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"hash\":\"0x12".into(),
        )),
        _ => None,
    })
    .await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(0, 199, lake.path().to_str().unwrap());
    cfg.chunk_blocks = 50;
    let mut config = rpc(&proxy.url);
    config.request_timeout = std::time::Duration::from_millis(500);
    let s = run(config, &cfg).await.unwrap();
    assert!(s.retries >= 5, "expected retries, got {s}");
    assert_eq!(s.blocks, 200);
    assert_exactly(lake.path(), 0, 199).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_fail_clearly_keep_what_landed_and_resume() {
    let anvil = Anvil::fixture().await;
    // Healthy for the first 12 requests (head + some chunks), then down for good.
    let proxy = faulty_proxy(&anvil.url, |n, _| {
        (n >= 12).then(|| Reply::Status(502, "bad gateway".into()))
    })
    .await;
    let lake = tempfile::tempdir().unwrap();
    let path = lake.path().to_str().unwrap();
    let mut cfg = common::to_head(0, 299, path);
    cfg.chunk_blocks = 20;
    cfg.parallel_batches = 1;
    let mut config = rpc(&proxy.url);
    config.max_retries = 2;
    config.max_concurrent_requests = 1;
    let err = run(config, &cfg).await.unwrap_err().to_string();
    assert!(
        err.contains("failed after 3 attempts") && err.contains("HTTP 502"),
        "{err}"
    );

    // What landed is whole: the coverage matches the rows, and Hive sees exactly Delta's rows.
    let covered = coverage(lake.path(), TableKind::Blocks).await;
    let blocks = delta_rows(lake.path(), TableKind::Blocks).await;
    assert!(!blocks.is_empty(), "the healthy requests should have landed a chunk");
    let covered: chainx_tables::BlockRanges = covered.parse().unwrap();
    assert_eq!(covered.count(), blocks.len() as u64);
    for kind in TableKind::BLOCK_TABLES {
        assert_eq!(
            hive_rows(lake.path(), kind).len(),
            delta_rows(lake.path(), kind).await.len()
        );
    }

    let s = run(rpc(&anvil.url), &cfg).await.unwrap();
    assert_eq!(s.skipped_blocks, covered.count());
    assert_exactly(lake.path(), 0, 299).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_fields_are_named_with_their_block() {
    let anvil = Anvil::fixture().await;
    let mut target = 5;
    while anvil.tx_hashes(target, target).await.len() < 2 {
        target += 1;
    }
    let target_hex = json!(format!("{target:#x}"));
    let client = reqwest::Client::new();
    let upstream = anvil.url.clone();
    // Corrupts the replies for the target block after forwarding them: bad hex in a
    // transaction's value, and (in another run) a missing field.
    let corrupt = Arc::new(AtomicI64::new(0));
    let mode = corrupt.clone();
    let proxy = RpcServer::start(handler(move |req: Value| {
        let (client, upstream, mode, target_hex) = (client.clone(), upstream.clone(), mode.clone(), target_hex.clone());
        async move {
            let Reply::Json(mut v) = forward(&client, &upstream, &req).await else {
                panic!("anvil failed")
            };
            for item in v.as_array_mut().into_iter().flatten() {
                let block = &mut item["result"];
                if block.get("number") == Some(&target_hex) {
                    match mode.load(Ordering::SeqCst) {
                        0 => block["transactions"][1]["value"] = json!("0xnothex"),
                        _ => {
                            // One of the few fields every chain's header has (others may be absent).
                            block.as_object_mut().unwrap().remove("timestamp");
                        }
                    }
                }
            }
            Reply::Json(v)
        }
    }))
    .await;
    let lake = tempfile::tempdir().unwrap();
    let cfg = common::to_head(0, target + 5, lake.path().to_str().unwrap());
    let block = format!("block {target}:");
    let err = run(rpc(&proxy.url), &cfg).await.unwrap_err().to_string();
    assert!(err.contains(&block) && err.contains("transactions[1].value"), "{err}");
    corrupt.store(1, Ordering::SeqCst);
    let err = run(rpc(&proxy.url), &cfg).await.unwrap_err().to_string();
    assert!(err.contains(&block) && err.contains("timestamp"), "{err}");
    // Nothing of the failed range is visible.
    assert!(delta_rows(lake.path(), TableKind::Blocks).await.is_empty());
    assert!(hive_rows(lake.path(), TableKind::Transactions).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_without_get_block_receipts_fall_back_to_per_transaction_receipts() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let client = reqwest::Client::new();
    let upstream = anvil.url.clone();
    // An older node: eth_getBlockReceipts is method-not-found, everything else is anvil's.
    let proxy = RpcServer::start(handler(move |req: Value| {
        let (client, upstream) = (client.clone(), upstream.clone());
        async move {
            let calls = req.as_array().cloned().unwrap_or_else(|| vec![req.clone()]);
            let mut answers = Vec::new();
            for call in calls {
                if call["method"] == "eth_getBlockReceipts" {
                    answers.push(json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32601, "message": "Method not found"}}));
                } else {
                    let Reply::Json(v) = forward(&client, &upstream, &call).await else { panic!("anvil failed") };
                    answers.push(v);
                }
            }
            Reply::Json(if req.is_array() { Value::Array(answers) } else { answers.remove(0) })
        }
    }))
    .await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(0, m.last_block, lake.path().to_str().unwrap());
    cfg.batch_blocks = 20;
    cfg.parallel_batches = 1;
    let s = run(rpc(&proxy.url), &cfg).await.unwrap();
    let (_, txs) = assert_exactly(lake.path(), 0, m.last_block).await;
    assert!(txs.iter().all(|t| t["receipt_gas_used"].is_some()));
    assert_eq!(
        txs.iter()
            .filter(|t| t["receipt_status"].as_deref() == Some("0"))
            .count() as u64,
        m.receipt_status_failed
    );
    // The chain id and the head, one wasted eth_getBlockReceipts per block of the first batch
    // only; then one call per block and one per transaction.
    assert_eq!(s.calls, 2 + 20 + m.block_count + m.transaction_count, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_never_exceeds_the_limit() {
    let anvil = Anvil::fixture().await;
    let in_flight = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let (gauge, max) = (in_flight.clone(), peak.clone());
    let client = reqwest::Client::new();
    let upstream = anvil.url.clone();
    let proxy = RpcServer::start(handler(move |req: Value| {
        let (gauge, max, client, upstream) = (gauge.clone(), max.clone(), client.clone(), upstream.clone());
        async move {
            let now = gauge.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            let reply = forward(&client, &upstream, &req).await;
            gauge.fetch_sub(1, Ordering::SeqCst);
            reply
        }
    }))
    .await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(0, 299, lake.path().to_str().unwrap());
    cfg.batch_blocks = 2;
    let mut config = rpc(&proxy.url);
    config.max_concurrent_requests = 3;
    run(config, &cfg).await.unwrap();
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=3).contains(&peak), "peak in-flight requests {peak} > 3");
    assert_exactly(lake.path(), 0, 299).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_past_the_size_limit_fails_its_request_naming_the_limit() {
    let anvil = Anvil::fixture().await;
    // A proxy that answers block requests with 3 MiB of padding in a valid JSON string.
    let padding = "0".repeat(3 << 20);
    let proxy = faulty_proxy(&anvil.url, move |_, req| {
        let wants_blocks = req.to_string().contains("eth_getBlockByNumber");
        wants_blocks.then(|| Reply::Json(json!({"jsonrpc": "2.0", "id": 0, "result": {"padding": padding}})))
    })
    .await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(0, 9, lake.path().to_str().unwrap());
    cfg.tables = vec![TableKind::Blocks, TableKind::Transactions];
    cfg.receipts = false;
    let mut config = rpc(&proxy.url);
    config.max_reply_bytes = 1 << 20;
    let err = run(config.clone(), &cfg).await.unwrap_err().to_string();
    assert!(err.contains("passed 1 MiB") && err.contains("--max-reply-mb"), "{err}");
    assert!(!err.contains(&"0".repeat(100)), "the reply itself is not in the error");
    // Not retried: the same request would only be as large again.
    let client = chainx_evm::RpcClient::new(config).unwrap();
    let e = client
        .call("eth_getBlockByNumber", json!(["0x1", false]))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("--max-reply-mb"), "{e}");
    assert_eq!(client.stats().retries(), 0);
}
