//! `chainx backfill` at mainnet shape in bounded memory: 200 blocks of 150 transactions and
//! ~350 logs (about 180 MB of JSON) from testkit's mainnet-shaped node, asked for in one chunk,
//! with `--max-memory` well below what holding that chunk takes (the design before the bound
//! peaked at 3.5 GB on 1,000 such blocks). The run stays under the bound and lands exactly
//! the node's rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use chainx_tables::{Lake, LakeTable, TableKind};
use chainx_testkit::mainnet_node::MainnetNode;
use common::Job;
use serde_json::json;

mod common;

const FROM: u64 = 18_000_000;
const TO: u64 = 18_000_199;
const MAX_MEMORY_MB: u64 = 384;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mainnet_chunk_lands_exactly_within_max_memory() {
    let node = MainnetNode::start(TO, None).await;
    let lake_dir = tempfile::tempdir().unwrap();
    let (from, to, max) = (FROM.to_string(), TO.to_string(), MAX_MEMORY_MB.to_string());
    let job = Job::start(&[
        "backfill",
        "--rpc-url",
        &node.url,
        "--from",
        &from,
        "--to",
        &to,
        "--to-head",
        "--lake",
        lake_dir.path().to_str().unwrap(),
        "--chunk-blocks",
        "1000",
        "--max-memory",
        &max,
        // About 26 MB of transactions: files of 8 MiB make it commit in parts.
        "--target-file-mb",
        "8",
    ]);
    let summary = job.finish(Duration::from_secs(600));
    let peak: u64 = summary
        .split("peak memory ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in {summary:?}"));
    eprintln!("{summary}");
    assert!(
        peak <= MAX_MEMORY_MB,
        "peak {peak} MiB over --max-memory {MAX_MEMORY_MB}: {summary}"
    );

    // Exactly the node's transactions and logs, every block covered.
    let mut txs = 0;
    for n in FROM..=TO {
        let block = node
            .call("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))
            .await;
        txs += block["transactions"].as_array().unwrap().len() as u64;
    }
    let filter = json!([{"fromBlock": format!("{FROM:#x}"), "toBlock": format!("{TO:#x}")}]);
    let logs = node.call("eth_getLogs", filter).await.as_array().unwrap().len() as u64;
    let lake = Lake::parse(lake_dir.path().to_str().unwrap()).unwrap();
    let transactions = LakeTable::open(&lake, TableKind::Transactions).await.unwrap();
    assert_eq!(transactions.row_count().await.unwrap(), txs);
    let landed_logs = LakeTable::open(&lake, TableKind::Logs).await.unwrap();
    assert_eq!(landed_logs.row_count().await.unwrap(), logs);
    for kind in TableKind::BACKFILL_DEFAULT {
        let table = LakeTable::open(&lake, kind).await.unwrap();
        assert_eq!(
            table.covered().unwrap().to_string(),
            format!("{FROM}-{TO}"),
            "{}",
            kind.name()
        );
    }
    // The one chunk was committed in parts, as its files reached the target size.
    assert!(
        transactions.version().unwrap() > 1,
        "a 200-block mainnet chunk went into one commit"
    );
}

/// The sink following a mainnet-shaped head that grows a block every 100 ms, through the block
/// clock and a real Kafka: commits come by `--flush-interval`, not by block. (Committing at
/// every pause in the input, as the sink did, made about one commit per block here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_at_the_head_commits_by_interval_not_by_block() {
    let start = 1_000;
    let node = MainnetNode::start(start, Some(Duration::from_millis(100))).await;
    let kafka = chainx_testkit::kafka::Kafka::start().await;
    let b = kafka.brokers.as_str();
    common::create_topics(b, "head");
    let start_text = start.to_string();
    let _clock = Job::start(&[
        "block-clock",
        "--brokers",
        b,
        "--network",
        "head",
        "--rpc-url",
        &node.url,
        "--start-block",
        &start_text,
        "--poll-interval",
        "0.05",
        "--confirmations",
        "0",
    ]);
    let lake_dir = tempfile::tempdir().unwrap();
    let sink = Job::start(&[
        "sink",
        "--brokers",
        b,
        "--network",
        "head",
        "--lake",
        lake_dir.path().to_str().unwrap(),
        "--flush-interval",
        "2",
        "--tables",
        "blocks,transactions",
    ]);
    let lake = Lake::parse(lake_dir.path().to_str().unwrap()).unwrap();
    let began = std::time::Instant::now();
    let want = 60;
    let deadline = began + Duration::from_secs(180);
    let landed = loop {
        let covered = match LakeTable::open_if_exists(&lake, TableKind::Transactions).await.unwrap() {
            Some(t) => t.covered().unwrap().count(),
            None => 0,
        };
        if covered >= want {
            break covered;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{covered} blocks landed:\n{}",
            sink.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let elapsed = began.elapsed().as_secs_f64();
    let txs = LakeTable::open(&lake, TableKind::Transactions).await.unwrap();
    let commits = txs.version().unwrap();
    eprintln!("{landed} blocks in {elapsed:.1} s: {commits} commits of transactions");
    // One per interval, one for the table's creation, one for the catch-up at start.
    assert!(
        commits as f64 <= elapsed / 2.0 + 3.0,
        "{commits} commits for {landed} blocks in {elapsed:.1} s with --flush-interval 2"
    );
    assert!(node.head() > start + want / 2, "the head did not grow");
}
