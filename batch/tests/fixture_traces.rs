//! `traces` and `contracts` against a real anvil node loaded with the fixture chain: the lake's
//! traces are the node's `trace_block` for every block, and its contracts every successful
//! create among them, the factory's CREATE2 pairs included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chainx_evm::alloy_primitives::U256;
use chainx_tables::TableKind;
use chainx_testkit::anvil::{manifest, Anvil};
use common::{delta_rows, rpc, run, Row};
use serde_json::{json, Value};

/// A trace's place: its transaction and trace address (`0,1`), as the lake's columns hold them.
fn place(t: &Value) -> (String, String) {
    let path: Vec<String> = t["traceAddress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap().to_string())
        .collect();
    (
        t["transactionHash"].as_str().unwrap_or_default().to_string(),
        path.join(","),
    )
}

fn dec(hex: &Value) -> Option<String> {
    hex.as_str().map(|h| h.parse::<U256>().unwrap().to_string())
}

fn lower(v: &Value) -> Option<String> {
    v.as_str().map(str::to_lowercase)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_the_nodes_and_contracts_every_successful_create() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(m.first_block, m.last_block, lake.path().to_str().unwrap());
    cfg.tables = vec![
        TableKind::Blocks,
        TableKind::Transactions,
        TableKind::Traces,
        TableKind::Contracts,
    ];
    cfg.chunk_blocks = 200;
    let summary = run(rpc(&anvil.url), &cfg).await.unwrap();
    // Block, receipts and traces per block, the chain id and the head.
    assert_eq!(summary.calls, 3 * m.block_count + 2, "{summary}");

    let mut node = Vec::new();
    for n in m.first_block..=m.last_block {
        let traces = anvil.rpc("trace_block", json!([format!("{n:#x}")])).await;
        node.extend(traces.as_array().unwrap().iter().cloned());
    }
    let landed = delta_rows(lake.path(), TableKind::Traces).await;
    assert_eq!(landed.len(), node.len(), "traces: row count");
    assert_eq!(summary.traces, node.len() as u64);
    let by_place: BTreeMap<(String, String), &Row> = landed
        .iter()
        .map(|r| {
            let get = |c: &str| r[c].clone().unwrap_or_default();
            ((get("transaction_hash"), get("trace_address")), r)
        })
        .collect();
    assert_eq!(by_place.len(), landed.len(), "two traces in one place");
    let mut failed = 0;
    for t in &node {
        let row = by_place
            .get(&place(t))
            .unwrap_or_else(|| panic!("no landed trace at {:?}", place(t)));
        let (a, r) = (&t["action"], &t["result"]);
        let create = t["type"] == "create";
        let want = [
            ("trace_type", t["type"].as_str().map(str::to_string)),
            ("from_address", lower(&a["from"])),
            ("to_address", lower(if create { &r["address"] } else { &a["to"] })),
            ("value", dec(&a["value"])),
            ("gas", dec(&a["gas"])),
            ("gas_used", dec(&r["gasUsed"])),
            ("call_type", a["callType"].as_str().map(str::to_string)),
            ("subtraces", Some(t["subtraces"].to_string())),
            ("error", t["error"].as_str().map(str::to_string)),
            ("block_number", Some(t["blockNumber"].to_string())),
            ("block_hash", lower(&t["blockHash"])),
        ];
        for (column, value) in want {
            assert_eq!(row[column], value, "trace {:?}: {column}", place(t));
        }
        failed += u64::from(row["status"].as_deref() == Some("0"));
    }
    // The generator's intended reverts fail their top calls, and everything below them.
    assert!(failed >= m.receipt_status_failed, "{failed} failed traces");

    let creates: BTreeSet<String> = node
        .iter()
        .filter(|t| t["type"] == "create" && t["error"].is_null())
        .map(|t| lower(&t["result"]["address"]).unwrap())
        .collect();
    let contracts = delta_rows(lake.path(), TableKind::Contracts).await;
    let addresses: BTreeSet<String> = contracts.iter().map(|c| c["address"].clone().unwrap()).collect();
    assert_eq!(addresses, creates);
    assert_eq!(summary.contracts, creates.len() as u64);
    // Top-level deployments are there, and so are the pairs the factory made with CREATE2,
    // which no transaction's receipt names.
    let txs = delta_rows(lake.path(), TableKind::Transactions).await;
    for deployed in txs.iter().filter_map(|t| t["receipt_contract_address"].clone()) {
        let status = txs
            .iter()
            .find(|t| t["receipt_contract_address"].as_ref() == Some(&deployed))
            .unwrap();
        if status["receipt_status"].as_deref() == Some("1") {
            assert!(addresses.contains(&deployed), "deployment {deployed} missing");
        }
    }
    for pair in ["pair_ab", "pair_weth_a"] {
        let address = &m.contracts[pair];
        let row = contracts
            .iter()
            .find(|c| c["address"].as_ref() == Some(address))
            .unwrap();
        assert!(row["trace_address"].is_some(), "{pair} was made inside a call");
        assert!(!txs
            .iter()
            .any(|t| t["receipt_contract_address"].as_ref() == Some(address)));
    }
    let flag = |name: &str, column: &str| {
        let address = &m.contracts[name];
        contracts
            .iter()
            .find(|c| c["address"].as_ref() == Some(address))
            .unwrap()[column]
            .clone()
    };
    // Compiled by solc 0.8, whose dispatchers split into a binary search past the first block.
    assert_eq!(flag("token_a", "is_erc20").as_deref(), Some("true"));
    assert_eq!(flag("weth", "is_erc20").as_deref(), Some("true"));
    // The fixture's collectible has mint and transferFrom only: not EIP-721's functions.
    assert_eq!(flag("collectible", "is_erc721").as_deref(), Some("false"));
    assert_eq!(flag("collectible", "is_erc20").as_deref(), Some("false"));
    assert!(flag("collectible", "function_sighashes")
        .unwrap()
        .contains("0x23b872dd"));
}

/// `--tables contracts,tokens` alone fetches headers, traces and the tokens' calls, nothing
/// else, and every ERC-20 or ERC-721 created has a row with what it says of itself. anvil on a
/// loaded state keeps no state of old blocks, as a full node does not: the run reads the tokens
/// at the newest block instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_what_every_created_token_says_of_itself() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(m.first_block, m.last_block, lake.path().to_str().unwrap());
    cfg.tables = vec![TableKind::Contracts, TableKind::Tokens];
    cfg.chunk_blocks = 200;
    let summary = run(rpc(&anvil.url), &cfg).await.unwrap();

    let contracts = delta_rows(lake.path(), TableKind::Contracts).await;
    let is = |c: &Row, column: &str| c[column].as_deref() == Some("true");
    let want: BTreeSet<String> = contracts
        .iter()
        .filter(|c| is(c, "is_erc20") || is(c, "is_erc721"))
        .map(|c| c["address"].clone().unwrap())
        .collect();
    let tokens = delta_rows(lake.path(), TableKind::Tokens).await;
    let got: BTreeSet<String> = tokens.iter().map(|t| t["address"].clone().unwrap()).collect();
    assert_eq!(got, want);
    assert_eq!(tokens.len(), want.len(), "one row a token");
    assert_eq!(summary.tokens, want.len() as u64);
    assert!(want.len() >= 3, "weth and the two tokens at least");

    // A header and the traces per block, the chain id and the head, then four calls a token:
    // eight for those asked at their creation block before the node said it keeps no such state.
    let per_block = 2 * m.block_count + 2;
    let token_calls = summary.calls - per_block;
    let n = want.len() as u64;
    assert!(
        token_calls.is_multiple_of(4) && (4 * n..=8 * n).contains(&token_calls),
        "{token_calls} token calls for {n} tokens: {summary}"
    );

    let token = |name: &str| {
        let address = &m.contracts[name];
        tokens
            .iter()
            .find(|t| t["address"].as_ref() == Some(address))
            .unwrap_or_else(|| panic!("no token row for {name}"))
    };
    let said = |t: &Row| ["symbol", "name", "decimals"].map(|c| t[c].clone().unwrap_or_default());
    assert_eq!(said(token("weth")), ["WETH", "Wrapped Ether", "18"]);
    assert_eq!(said(token("token_a")), ["ALP", "Alpha", "18"]);
    assert_eq!(said(token("token_b")), ["BET", "Beta", "18"]);
    for t in &tokens {
        let address = t["address"].clone().unwrap();
        let supply = anvil
            .rpc("eth_call", json!([{"to": address, "data": "0x18160ddd"}, "latest"]))
            .await;
        assert_eq!(t["total_supply"], dec(&supply), "{address}: total supply");
        let contract = contracts
            .iter()
            .find(|c| c["address"].as_ref() == Some(&address))
            .unwrap();
        for column in ["block_number", "block_hash", "block_timestamp"] {
            assert_eq!(t[column], contract[column], "{address}: {column}");
        }
    }
}
