//! Parity with ethereum-etl on real mainnet data: its recorded JSON-RPC replies are served by a
//! local JSON-RPC server, chainx backfills them, and every field ethereum-etl expected is
//! compared with what landed. Fixtures are read in place from ../shared/fixtures/ethereum-etl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chainx_tables::TableKind;
use chainx_testkit::mainnet::{fixtures_dir, Recorded};
use chainx_testkit::rpc_server::RpcServer;
use common::etl::{assert_matches, expected_csv, expected_json, expected_quoted_csv, keyed};
use common::{delta_rows, rpc, run, Row};
use serde_json::Value;

async fn backfill_recorded(from: u64, to: u64, receipts: bool, block_receipts: bool) -> (tempfile::TempDir, RpcServer) {
    let server = RpcServer::start(Arc::new(Recorded::load()).handler(block_receipts)).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(from, to, lake.path().to_str().unwrap());
    cfg.receipts = receipts;
    if !receipts {
        cfg.tables = vec![TableKind::Blocks, TableKind::Transactions];
    }
    run(rpc(&server.url), &cfg).await.unwrap();
    (lake, server)
}

#[tokio::test]
async fn genesis_and_frontier_blocks_match_ethereum_etl() {
    let dir = fixtures_dir().join("test_export_blocks_job");
    for (set, from, to) in [
        ("block_without_transactions", 0, 0),
        ("blocks_with_transactions", 47218, 47219),
    ] {
        let (lake, _server) = backfill_recorded(from, to, false, true).await;
        let blocks = delta_rows(lake.path(), TableKind::Blocks).await;
        let n = assert_matches(
            set,
            "number",
            &expected_csv(&dir.join(set).join("expected_blocks.csv")),
            &blocks,
        );
        assert!(n >= 20, "{set}: compared only {n} block fields");
        let txs = delta_rows(lake.path(), TableKind::Transactions).await;
        assert_matches(
            set,
            "hash",
            &expected_csv(&dir.join(set).join("expected_transactions.csv")),
            &txs,
        );
    }
}

#[tokio::test]
async fn blocks_with_receipts_match_ethereum_etl_with_and_without_get_block_receipts() {
    for block_receipts in [true, false] {
        let stream = fixtures_dir().join("test_stream/blocks_1755634_1755635");
        let (lake, server) = backfill_recorded(1755634, 1755635, true, block_receipts).await;
        let blocks = delta_rows(lake.path(), TableKind::Blocks).await;
        assert_matches(
            "stream blocks",
            "number",
            &expected_json(&stream.join("expected_blocks.json")),
            &blocks,
        );
        let txs = delta_rows(lake.path(), TableKind::Transactions).await;
        let n = assert_matches(
            "stream txs",
            "hash",
            &expected_json(&stream.join("expected_transactions.json")),
            &txs,
        );
        assert!(n >= 2 * 15, "compared only {n} transaction fields");
        // Logs and token transfers from the same receipts: no request of their own.
        let log_key = ["block_number", "log_index"];
        let n = assert_matches(
            "stream logs",
            "key",
            &keyed(expected_json(&stream.join("expected_logs.json")), &log_key),
            &keyed(delta_rows(lake.path(), TableKind::Logs).await, &log_key),
        );
        assert!(n >= 9, "compared only {n} log fields");
        let n = assert_matches(
            "stream token transfers",
            "key",
            &keyed(expected_json(&stream.join("expected_token_transfers.json")), &log_key),
            &keyed(delta_rows(lake.path(), TableKind::TokenTransfers).await, &log_key),
        );
        assert!(n >= 9, "compared only {n} token transfer fields");
        // 2 blocks + their receipts (+ the chain id and the head); without
        // eth_getBlockReceipts, one wasted call per block and one receipt call per transaction.
        let want = if block_receipts {
            2 + 4
        } else {
            2 + 4 + txs.len() as u64
        };
        assert_eq!(server.calls(), want, "block_receipts={block_receipts}");

        let logs = fixtures_dir().join("test_export_blocks_job/block_with_logs");
        let receipts = fixtures_dir().join("test_export_receipts_job/receipts_with_logs");
        let (lake, _s) = backfill_recorded(483920, 483920, true, block_receipts).await;
        let txs = delta_rows(lake.path(), TableKind::Transactions).await;
        assert_matches(
            "483920 txs",
            "hash",
            &expected_csv(&logs.join("expected_transactions.csv")),
            &txs,
        );
        assert_matches(
            "483920 blocks",
            "number",
            &expected_csv(&logs.join("expected_blocks.csv")),
            &delta_rows(lake.path(), TableKind::Blocks).await,
        );
        let n = assert_matches(
            "483920 logs",
            "log_index",
            &expected_json(&receipts.join("expected_logs.json")),
            &delta_rows(lake.path(), TableKind::Logs).await,
        );
        assert!(n >= 2 * 8, "compared only {n} log fields");
        let transfers = fixtures_dir().join("test_export_token_transfers_job/block_with_transfers");
        assert_matches(
            "483920 token transfers",
            "log_index",
            &expected_csv(&transfers.join("expected_token_transfers.csv")),
            &delta_rows(lake.path(), TableKind::TokenTransfers).await,
        );
        // Receipt columns against ethereum-etl's receipts export of the same transactions.
        for r in expected_csv(&receipts.join("expected_receipts.csv")) {
            let tx = txs.iter().find(|t| t["hash"] == r["transaction_hash"]).unwrap();
            assert_eq!(tx["receipt_gas_used"], r["gas_used"]);
            assert_eq!(tx["receipt_cumulative_gas_used"], r["cumulative_gas_used"]);
            assert_eq!(tx["receipt_contract_address"], r["contract_address"]);
            assert_eq!(tx["receipt_status"], r["status"]);
            assert_eq!(tx["receipt_effective_gas_price"], r["effective_gas_price"]);
        }
    }
}

/// ethereum-etl's token-transfer extraction test: its logs in, its transfers out.
#[test]
fn token_transfers_from_logs_match_ethereum_etl() {
    use chainx_evm::alloy_primitives::{Address, Bytes, B256};
    use chainx_evm::{BlockLog, LogRow};
    let dir = fixtures_dir().join("test_extract_token_transfers_job/logs");
    let mut landed = Vec::new();
    for l in expected_quoted_csv(&dir.join("logs.csv")) {
        let get = |c: &str| l[c].clone().unwrap_or_default();
        let topics: Vec<String> = get("topics").split(',').map(str::to_string).collect();
        let log = BlockLog {
            address: get("address").parse::<Address>().unwrap(),
            topics: topics.iter().map(|t| t.parse::<B256>().unwrap()).collect(),
            data: get("data").parse::<Bytes>().unwrap(),
            row: LogRow {
                log_index: get("log_index").parse().unwrap(),
                transaction_hash: get("transaction_hash"),
                transaction_index: get("transaction_index").parse().unwrap(),
                address: get("address"),
                data: get("data"),
                topics,
                block_timestamp: 0,
                block_number: get("block_number").parse().unwrap(),
                block_hash: get("block_hash"),
            },
        };
        for t in log.token_transfers() {
            let v = serde_json::to_value(&t).unwrap();
            let row: Row = v
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        other => Some(other.to_string()),
                    };
                    (k.clone(), s)
                })
                .collect();
            landed.push(row);
        }
    }
    let n = assert_matches(
        "extracted token transfers",
        "log_index",
        &expected_csv(&dir.join("expected_token_transfers.csv")),
        &landed,
    );
    assert_eq!(n, 2 * 7);
}
