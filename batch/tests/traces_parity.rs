//! `traces`, `contracts` and `tokens` against ethereum-etl on real mainnet data: its recorded
//! `trace_block` and `debug_traceBlockByNumber` (callTracer) replies for the same five blocks,
//! and its tokens' `eth_call` replies, served by a local JSON-RPC server, backfilled (or read),
//! and compared field by field with its expected files. Fixtures are read in place from
//! ../shared/fixtures/ethereum-etl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;

use chainx_evm::contracts::{function_sighashes, is_erc20, is_erc721};
use chainx_evm::tokens::token_calls;
use chainx_evm::{ContractRow, RpcClient, TokenRow};
use chainx_tables::TableKind;
use chainx_testkit::mainnet::{fixtures_dir, Recorded};
use chainx_testkit::rpc_server::RpcServer;
use common::etl::{assert_matches, expected_csv, expected_json, keyed};
use common::{delta_rows, rpc, run, Row};

const SETS: [&str; 5] = [
    "block_with_create",
    "block_with_error",
    "block_with_subtraces",
    "block_with_suicide",
    "block_without_transactions",
];

/// The block a recorded trace reply is of, from its file name (`..._0xf44f2[_tracer...].json`).
fn recorded_block(dir: &Path, method: &str) -> u64 {
    let name = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|n| n.starts_with(&format!("web3_response.{method}_")))
        .unwrap();
    let hex = name.split('_').find(|p| p.starts_with("0x")).unwrap();
    u64::from_str_radix(hex.trim_start_matches("0x").trim_end_matches(".json"), 16).unwrap()
}

/// Backfills `tables` of one block from the recordings; the lake, and the calls made.
async fn backfill(block: u64, tables: &[TableKind], without_trace_block: bool) -> (tempfile::TempDir, u64) {
    let mut recorded = Recorded::load();
    recorded.without_trace_block = without_trace_block;
    backfill_from(recorded, block, tables).await
}

/// Backfills `tables` of one block from `recorded`; the lake, and the calls made.
async fn backfill_from(recorded: Recorded, block: u64, tables: &[TableKind]) -> (tempfile::TempDir, u64) {
    let server = RpcServer::start(Arc::new(recorded).handler(true)).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(block, block, lake.path().to_str().unwrap());
    cfg.tables = tables.to_vec();
    let summary = run(rpc(&server.url), &cfg).await.unwrap();
    assert_eq!(summary.blocks, 1, "{summary}");
    (lake, server.calls())
}

#[tokio::test]
async fn trace_block_traces_match_ethereum_etl() {
    let mut compared = 0;
    for set in SETS {
        let dir = fixtures_dir().join("test_export_traces_job").join(set);
        let block = recorded_block(&dir, "trace_block");
        // Traces alone: the header (not the full block, which the recording does not have),
        // the traces, the chain id and the head.
        let (lake, calls) = backfill(block, &[TableKind::Traces], false).await;
        assert_eq!(calls, 4, "{set}");
        let expected = expected_csv(&dir.join("expected_traces.csv"));
        compared += assert_matches(
            set,
            "trace_id",
            &expected,
            &delta_rows(lake.path(), TableKind::Traces).await,
        );
    }
    // 13 traces of 18 columns: rewards, a failed call, a callcode subtrace, a self-destruct.
    assert_eq!(compared, 13 * 18);
}

/// Keyed by where a trace is (geth names no trace id): its transaction and trace address.
fn by_place(rows: Vec<Row>) -> Vec<Row> {
    keyed(rows, &["transaction_index", "trace_address"])
}

#[tokio::test]
async fn geth_call_tracer_traces_match_ethereum_etl_and_the_parity_ids() {
    // ethereum-etl leaves these empty for geth traces; chainx derives them as for Parity's.
    const DERIVED: [&str; 3] = ["transaction_hash", "status", "trace_id"];
    let mut compared = 0;
    for set in SETS {
        let dir = fixtures_dir().join("test_extract_geth_traces_job").join(set);
        let block = recorded_block(&dir, "debug_traceBlockByNumber");
        let (lake, calls) = backfill(block, &[TableKind::Traces], true).await;
        // The chain id, the head, the header, trace_block refused once, then geth's tracer.
        assert_eq!(calls, 5, "{set}");
        let landed = by_place(delta_rows(lake.path(), TableKind::Traces).await);
        let mut geth = by_place(expected_csv(&dir.join("expected_traces.csv")));
        for row in &mut geth {
            for c in DERIVED {
                row.remove(c);
            }
        }
        compared += assert_matches(set, "key", &geth, &landed);
        // The derived columns equal what the Parity export has for the same traces (geth
        // reports no rewards; the block without transactions is another block there).
        let parity_dir = fixtures_dir().join("test_export_traces_job").join(set);
        if recorded_block(&parity_dir, "trace_block") != block {
            assert!(landed.is_empty());
            continue;
        }
        let parity: Vec<Row> = by_place(expected_csv(&parity_dir.join("expected_traces.csv")))
            .into_iter()
            .filter(|r| r["trace_type"].as_deref() != Some("reward"))
            .map(|r| {
                r.into_iter()
                    .filter(|(c, _)| c == "key" || DERIVED.contains(&c.as_str()))
                    .collect()
            })
            .collect();
        compared += assert_matches(set, "key", &parity, &landed);
    }
    // 9 traces: 15 columns and the key against geth's, the 3 derived ones and the key against
    // Parity's.
    assert_eq!(compared, 9 * 16 + 9 * 4);
}

#[tokio::test]
async fn streamed_block_traces_and_contracts_match_ethereum_etl() {
    let dir = fixtures_dir().join("test_stream/blocks_508110_508110");
    let (lake, calls) = backfill(
        508110,
        &[TableKind::Traces, TableKind::Contracts, TableKind::Tokens],
        false,
    )
    .await;
    // The header, the traces, the chain id and the head: none of the block's contracts is a
    // token, so no token is called.
    assert_eq!(calls, 4);
    // ethereum-etl's stream writes a reward's output as "", its CSV export as empty.
    let expected: Vec<Row> = expected_json(&dir.join("expected_traces.json"))
        .into_iter()
        .map(|r| r.into_iter().map(|(c, v)| (c, v.filter(|v| !v.is_empty()))).collect())
        .collect();
    let n = assert_matches(
        "508110 traces",
        "trace_id",
        &expected,
        &delta_rows(lake.path(), TableKind::Traces).await,
    );
    assert!(n >= 4 * 18, "compared only {n} trace fields");
    let n = assert_matches(
        "508110 contracts",
        "address",
        &expected_json(&dir.join("expected_contracts.json")),
        &delta_rows(lake.path(), TableKind::Contracts).await,
    );
    assert_eq!(
        n, 8,
        "address, bytecode, sighashes, is_erc20, is_erc721, block number, timestamp, hash"
    );
    let expected_tokens = expected_json(&dir.join("expected_tokens.json"));
    assert!(expected_tokens.is_empty());
    assert_eq!(delta_rows(lake.path(), TableKind::Tokens).await, expected_tokens);
}

/// A node whose create traces come without their code: each such create costs one
/// `eth_getCode`, and the contracts are the same.
#[tokio::test]
async fn creates_without_code_get_it_from_eth_get_code() {
    let dir = fixtures_dir().join("test_stream/blocks_508110_508110");
    let expected = expected_json(&dir.join("expected_contracts.json"));
    let mut recorded = Recorded::load();
    recorded.without_create_code = true;
    let (lake, calls) = backfill_from(recorded, 508110, &[TableKind::Contracts]).await;
    assert_eq!(
        calls,
        4 + expected.len() as u64,
        "header, traces, chain id, head and one eth_getCode a create"
    );
    let landed = delta_rows(lake.path(), TableKind::Contracts).await;
    assert_eq!(
        assert_matches("508110 contracts", "address", &expected, &landed),
        8 * expected.len()
    );
}

/// A token row as the lake's readers render it.
fn token_row(t: &TokenRow) -> Row {
    let serde_json::Value::Object(fields) = serde_json::to_value(t).unwrap() else {
        unreachable!("a struct serialises as an object")
    };
    fields
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                other => Some(other.to_string()),
            };
            (k, v)
        })
        .collect()
}

/// ethereum-etl's token exports, through a real client and server: a `bytes32` symbol (EOS)
/// and a NUL-padded string ("ETH\0\0\0") read as text, a name of zeros as none, never an
/// error; the four calls of a token in one request.
#[tokio::test]
async fn token_reads_match_ethereum_etl() {
    let server = RpcServer::start(Arc::new(Recorded::load()).handler(true)).await;
    let client = RpcClient::new(rpc(&server.url)).unwrap();
    let mut compared = 0;
    for set in ["token_with_alternative_return_type", "token_with_invalid_data"] {
        let dir = fixtures_dir().join("test_export_tokens_job").join(set);
        let mut expected = expected_csv(&dir.join("expected_tokens.csv"));
        // ethereum-etl exported these from a list of addresses: no block, and its calls were
        // recorded at `latest`.
        for r in &mut expected {
            assert_eq!(r.remove("block_number"), Some(None));
        }
        let contract = ContractRow {
            address: expected[0]["address"].clone().unwrap(),
            is_erc20: true,
            ..ContractRow::default()
        };
        let requests = client.stats().http_requests();
        let replies = client.batch_all(&token_calls(&contract.address, None)).await.unwrap();
        assert_eq!(client.stats().http_requests() - requests, 1, "{set}: one request");
        let landed = token_row(&TokenRow::from_replies(&contract, &replies));
        compared += assert_matches(set, "address", &expected, &[landed]);
    }
    assert_eq!(compared, 2 * 5, "address, symbol, name, decimals, total supply");
}

#[test]
fn an_erc721_contracts_sighashes_match_ethereum_etl() {
    let dir = fixtures_dir().join("test_export_contracts_job/erc721_contract");
    let reply: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join("web3_response.eth_getCode_0x06012c8cf97bead5deae237070f9587f8e7a266d_latest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let code = chainx_evm::alloy_primitives::hex::decode(reply["result"].as_str().unwrap()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected_contracts.json")).unwrap()).unwrap();
    let sighashes = function_sighashes(&code);
    let want: Vec<String> = serde_json::from_value(expected["function_sighashes"].clone()).unwrap();
    assert_eq!(sighashes, want);
    assert_eq!(is_erc20(&sighashes), expected["is_erc20"].as_bool().unwrap());
    assert_eq!(is_erc721(&sighashes), expected["is_erc721"].as_bool().unwrap());
}
