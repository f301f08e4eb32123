//! Backfill at mainnet shape: 200 blocks of 150 transactions and ~350 logs each (30,000
//! transactions) from testkit's mainnet-shaped node, into every table. The oracle is the node:
//! its blocks and its `eth_getLogs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use chainx_tables::TableKind;
use chainx_testkit::mainnet_node::MainnetNode;
use common::{column, rpc, run};
use serde_json::{json, Value};

const FROM: u64 = 18_000_000;
const TO: u64 = 18_000_199;

fn decimal(hex: &Value) -> String {
    u128::from_str_radix(hex.as_str().unwrap().trim_start_matches("0x"), 16)
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_mainnet_blocks_land_exactly_in_every_table() {
    let node = MainnetNode::start(TO, None).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(FROM, TO, lake.path().to_str().unwrap());
    cfg.tables = TableKind::SINK_DEFAULT.to_vec();
    cfg.chunk_blocks = 50;
    let summary = run(rpc(&node.url), &cfg).await.unwrap();
    assert_eq!(summary.blocks, TO - FROM + 1, "{summary}");
    assert!(summary.calls <= 2 * (TO - FROM + 1) + 2, "{summary}");

    // Transactions: the node's, once each, with exact values.
    let mut node_txs: BTreeMap<String, Value> = BTreeMap::new();
    for n in FROM..=TO {
        let block = node
            .call("eth_getBlockByNumber", json!([format!("{n:#x}"), true]))
            .await;
        for tx in block["transactions"].as_array().unwrap() {
            node_txs.insert(tx["hash"].as_str().unwrap().to_string(), tx.clone());
        }
    }
    let txs = common::delta_rows(lake.path(), TableKind::Transactions).await;
    assert_eq!(txs.len(), node_txs.len());
    assert_eq!(summary.transactions, node_txs.len() as u64);
    let landed: Vec<String> = column(&txs, "hash");
    assert_eq!(landed, node_txs.keys().cloned().collect::<Vec<_>>());
    for row in txs.iter().step_by(997) {
        let tx = &node_txs[row["hash"].as_deref().unwrap()];
        assert_eq!(row["value"].as_deref(), Some(decimal(&tx["value"]).as_str()), "{row:?}");
        assert_eq!(row["gas_price"].as_deref(), Some(decimal(&tx["gasPrice"]).as_str()));
        assert_eq!(row["input"].as_deref(), tx["input"].as_str());
    }

    // Logs: the node's eth_getLogs over the range, once each.
    let node_logs = node
        .call(
            "eth_getLogs",
            json!([{"fromBlock": format!("{FROM:#x}"), "toBlock": format!("{TO:#x}")}]),
        )
        .await;
    let node_logs = node_logs.as_array().unwrap();
    let key = |tx: &str, index: &str| format!("{tx}/{index}");
    let mut from_node: Vec<String> = node_logs
        .iter()
        .map(|l| key(l["transactionHash"].as_str().unwrap(), &decimal(&l["logIndex"])))
        .collect();
    from_node.sort();
    let logs = common::delta_rows(lake.path(), TableKind::Logs).await;
    let mut landed: Vec<String> = logs
        .iter()
        .map(|l| {
            key(
                l["transaction_hash"].as_deref().unwrap(),
                l["log_index"].as_deref().unwrap(),
            )
        })
        .collect();
    landed.sort();
    assert_eq!(landed.len(), from_node.len());
    assert!(landed == from_node, "the landed logs are not the node's");
    assert!(
        from_node.len() as u64 > 300 * (TO - FROM + 1),
        "{} logs: not mainnet's shape",
        from_node.len()
    );

    // Token transfers: the node's ERC-20 Transfer logs (3 topics, one word of data).
    let transfer = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
    let erc20 = node_logs
        .iter()
        .filter(|l| l["topics"][0] == transfer && l["topics"].as_array().unwrap().len() == 3)
        .count();
    let transfers = common::delta_rows(lake.path(), TableKind::TokenTransfers).await;
    assert_eq!(transfers.len(), erc20);
    // Decoded calls: one per contract interaction (a transaction with input).
    let interactions = node_txs.values().filter(|t| t["input"] != "0x").count();
    let calls = common::delta_rows(lake.path(), TableKind::DecodedCalls).await;
    assert_eq!(calls.len(), interactions);
    assert_eq!(summary.decoded_calls, interactions as u64);
    let decoded_transfers = calls
        .iter()
        .filter(|c| c["function_name"].as_deref() == Some("transfer"))
        .count();
    assert!(decoded_transfers > 0, "no ERC-20 transfer call decoded");
    // Decoded events: every log of a built-in event (Transfer, Approval, Sync, Swap) decodes.
    let events = common::delta_rows(lake.path(), TableKind::DecodedEvents).await;
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        *by_name.entry(e["event_name"].clone().unwrap()).or_default() += 1;
    }
    assert_eq!(by_name.get("Transfer").copied(), Some(erc20), "{by_name:?}");
    for name in ["Approval", "Sync", "Swap"] {
        assert!(
            by_name.get(name).is_some_and(|n| *n > 0),
            "no {name} decoded: {by_name:?}"
        );
    }
}

/// Files are of the target size whatever `chunk_blocks` is: a table's rows stream into files
/// that close at the target, and it commits then, not once per chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_of_the_target_size_not_one_per_chunk() {
    let node = MainnetNode::start(TO, None).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(FROM, TO, lake.path().to_str().unwrap());
    cfg.tables = vec![TableKind::Blocks, TableKind::Transactions];
    cfg.chunk_blocks = 10;
    cfg.target_file_bytes = 4 << 20;
    let summary = run(rpc(&node.url), &cfg).await.unwrap();
    assert_eq!(summary.blocks, TO - FROM + 1, "{summary}");
    let files = chainx_tables::read::hive_files(&lake.path().join("transactions")).unwrap();
    let sizes: Vec<u64> = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).collect();
    let total: u64 = sizes.iter().sum();
    let chunks = (TO - FROM + 1) / cfg.chunk_blocks;
    assert!(
        (files.len() as u64) < chunks,
        "{} files for {chunks} chunks: {sizes:?}",
        files.len()
    );
    // Every file but the last of each day's partition closed near the target (the writer
    // weighs its pages before compression, so a file comes out somewhat under it).
    let days: std::collections::BTreeSet<_> = files.iter().map(|f| f.parent().unwrap().to_path_buf()).collect();
    let small = sizes.iter().filter(|s| **s < cfg.target_file_bytes / 2).count();
    assert!(
        small <= days.len(),
        "{small} files under the target in {} days: {sizes:?}",
        days.len()
    );
    assert!(sizes.iter().all(|s| *s < 2 * cfg.target_file_bytes), "{sizes:?}");
    assert!(
        total > 4 * cfg.target_file_bytes,
        "only {total} bytes: the test proves nothing"
    );
    // The blocks table is small: one file per day, committed when the run ended.
    let block_files = chainx_tables::read::hive_files(&lake.path().join("blocks")).unwrap();
    assert_eq!(block_files.len(), days.len());
    let rows = common::delta_rows(lake.path(), TableKind::Transactions).await;
    assert_eq!(rows.len() as u64, summary.transactions);
}

/// Traces at mainnet shape: about 440 a block, each the node's `trace_block`, in two calls a
/// block (the header and the traces).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mainnet_blocks_land_every_trace_of_the_node() {
    const LAST: u64 = FROM + 49;
    let node = MainnetNode::start(LAST, None).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(FROM, LAST, lake.path().to_str().unwrap());
    cfg.tables = vec![TableKind::Traces, TableKind::Contracts];
    let summary = run(rpc(&node.url), &cfg).await.unwrap();
    assert_eq!(summary.calls, 2 * (LAST - FROM + 1) + 2, "{summary}");
    let mut from_node: Vec<String> = Vec::new();
    for n in FROM..=LAST {
        let traces = node.call("trace_block", json!([format!("{n:#x}")])).await;
        for t in traces.as_array().unwrap() {
            let path: Vec<String> = t["traceAddress"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.to_string())
                .collect();
            from_node.push(format!("{}/{}", t["transactionHash"].as_str().unwrap(), path.join(",")));
        }
    }
    from_node.sort();
    let traces = common::delta_rows(lake.path(), TableKind::Traces).await;
    let mut landed: Vec<String> = traces
        .iter()
        .map(|t| {
            let get = |c: &str| t[c].clone().unwrap_or_default();
            format!("{}/{}", get("transaction_hash"), get("trace_address"))
        })
        .collect();
    landed.sort();
    assert_eq!(landed, from_node);
    assert!(
        landed.len() as u64 > 2 * 150 * (LAST - FROM + 1),
        "{} traces",
        landed.len()
    );
    assert_eq!(summary.traces, landed.len() as u64);
}
