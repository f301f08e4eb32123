//! A lake knows its chain: each table records the chain id of the node that created it
//! (`chainx.chainId`), and a backfill from a node of another chain is refused before it lands
//! anything, naming both ids.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chainx_tables::{Lake, LakeTable, TableKind, CHAIN_ID_KEY};
use chainx_testkit::anvil::Anvil;
use chainx_testkit::mainnet_node::MainnetNode;
use common::{coverage, rpc, run};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_chain_is_refused() {
    let anvil = Anvil::fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let tables = vec![TableKind::Blocks, TableKind::Transactions];
    let mut cfg = common::to_head(0, 9, path);
    cfg.tables = tables.clone();
    run(rpc(&anvil.url), &cfg).await.unwrap();
    let anvil_chain = anvil.rpc("eth_chainId", json!([])).await;
    let anvil_chain = u64::from_str_radix(anvil_chain.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let lake = Lake::parse(path).unwrap();
    for kind in &tables {
        let table = LakeTable::open(&lake, *kind).await.unwrap();
        assert_eq!(table.chain_id().unwrap(), Some(anvil_chain), "{}", kind.name());
    }

    // The same lake from a mainnet node: refused, both ids named, nothing landed.
    let mainnet = MainnetNode::start(18_000_100, None).await;
    let mut other = common::to_head(18_000_000, 18_000_009, path);
    other.tables = tables.clone();
    let e = run(rpc(&mainnet.url), &other).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("holds chain {anvil_chain}")) && e.contains("not chain 1:") && e.contains(CHAIN_ID_KEY),
        "{e}"
    );
    for kind in &tables {
        assert_eq!(coverage(dir.path(), *kind).await, "0-9", "{}", kind.name());
    }
    // The right node still lands there.
    let mut more = common::to_head(10, 19, path);
    more.tables = tables;
    run(rpc(&anvil.url), &more).await.unwrap();
    assert_eq!(coverage(dir.path(), TableKind::Blocks).await, "0-19");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mainnet_lake_refuses_a_local_chain() {
    let mainnet = MainnetNode::start(18_000_100, None).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let mut cfg = common::to_head(18_000_000, 18_000_004, path);
    cfg.tables = vec![TableKind::Blocks, TableKind::Transactions];
    run(rpc(&mainnet.url), &cfg).await.unwrap();

    let anvil = Anvil::fixture().await;
    let anvil_chain = anvil.rpc("eth_chainId", json!([])).await;
    let anvil_chain = u64::from_str_radix(anvil_chain.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let mut local = common::to_head(0, 4, path);
    local.tables = cfg.tables.clone();
    let e = run(rpc(&anvil.url), &local).await.unwrap_err().to_string();
    assert!(
        e.contains("holds chain 1") && e.contains(&format!("not chain {anvil_chain}:")),
        "{e}"
    );
    assert_eq!(coverage(dir.path(), TableKind::Blocks).await, "18000000-18000004");
}
