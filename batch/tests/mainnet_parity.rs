//! Parity with ethereum-etl on real mainnet data: its recorded JSON-RPC replies are served by a
//! local JSON-RPC server, chainx backfills them, and every field ethereum-etl expected is
//! compared with what landed. Fixtures are read in place from ../shared/fixtures/ethereum-etl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;

use chainx_tables::TableKind;
use chainx_testkit::mainnet::{fixtures_dir, Recorded};
use chainx_testkit::rpc_server::RpcServer;
use common::{delta_rows, rpc, run, Row};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// Columns ethereum-etl emits that chainx's tables do not have (its streaming envelope, L2
/// receipt fields, and the pre-Byzantium `receipt_root`).
const NOT_OURS: &[&str] = &[
    "type",
    "item_id",
    "item_timestamp",
    "receipt_root",
    "receipt_l1_fee",
    "receipt_l1_gas_used",
    "receipt_l1_gas_price",
    "receipt_l1_fee_scalar",
    "receipt_logs_count",
];

fn expected_csv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new(); // a block without transactions: an empty file
    };
    let header: Vec<&str> = header.split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(k, v)| (k.to_string(), (!v.is_empty()).then(|| v.to_string())))
                .collect()
        })
        .collect()
}

fn expected_json(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Raw values: numbers keep their exact digits (total_difficulty exceeds u64).
            let v: BTreeMap<String, Box<RawValue>> = serde_json::from_str(l).unwrap();
            v.into_iter()
                .map(|(k, v)| {
                    let s = match serde_json::from_str::<Value>(v.get()).unwrap() {
                        Value::Null => None,
                        Value::String(s) => Some(s),
                        Value::Array(a) if a.is_empty() => None,
                        _ => Some(v.get().to_string()),
                    };
                    (k, s)
                })
                .collect()
        })
        .collect()
}

/// Compares every expected field, by the row's key column.
fn assert_matches(what: &str, key: &str, expected: &[Row], landed: &[Row]) -> usize {
    assert_eq!(expected.len(), landed.len(), "{what}: row count");
    let mut compared = 0;
    for e in expected {
        let k = e[key].as_deref().unwrap();
        let ours = landed
            .iter()
            .find(|r| r[key].as_deref() == Some(k))
            .unwrap_or_else(|| panic!("{what}: no landed row with {key} = {k}"));
        for (col, want) in e {
            if NOT_OURS.contains(&col.as_str()) || (col == "withdrawals" && want.is_none()) {
                continue;
            }
            let got = ours
                .get(col)
                .unwrap_or_else(|| panic!("{what}: chainx has no column {col}"));
            assert_eq!(got, want, "{what}: {key} {k}: column {col}");
            compared += 1;
        }
    }
    compared
}

async fn backfill_recorded(from: u64, to: u64, receipts: bool, block_receipts: bool) -> (tempfile::TempDir, RpcServer) {
    let server = RpcServer::start(Arc::new(Recorded::load()).handler(block_receipts)).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(from, to, lake.path().to_str().unwrap());
    cfg.receipts = receipts;
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
        // 2 blocks + their receipts (+1 head); without eth_getBlockReceipts, one wasted call
        // per block and one receipt call per transaction.
        let want = if block_receipts {
            1 + 4
        } else {
            1 + 4 + txs.len() as u64
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
