//! Any EVM chain lands in one schema: real recorded blocks, transactions and receipts of
//! OP-stack, Arbitrum, Polygon PoS and Gnosis chains and of mainnet's blob and EIP-7702
//! transactions (../shared/fixtures/chains, read in place). Every field each node sent must be
//! in the lake, in its column or in `extra`, with its exact value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chainx_evm::alloy_primitives::B256;
use chainx_evm::raw::{RpcReceipt, RpcTransaction};
use chainx_evm::TransactionRow;
use chainx_tables::{Lake, LakeTable, TableKind};
use chainx_testkit::chains::{assert_every_field_landed, load, row_of_json, ChainBlock, Object, Row};
use chainx_testkit::rpc_server::RpcServer;
use common::{delta_rows, rpc, run};
use serde_json::{json, Value};

/// Backfills the node's one block and checks every field of the block, its transactions and
/// its receipts against the lake.
async fn lands_every_field(name: &str, node: ChainBlock) {
    let server = RpcServer::start(Arc::new(node.clone()).handler()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let n = node.number();
    let mut cfg = common::to_head(n, n, path);
    cfg.receipts = node.receipts.is_some();
    cfg.tables = if cfg.receipts {
        vec![TableKind::Blocks, TableKind::Transactions, TableKind::Logs]
    } else {
        vec![TableKind::Blocks, TableKind::Transactions]
    };
    run(rpc(&server.url), &cfg)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));

    let lake = Lake::parse(path).unwrap();
    let table = LakeTable::open(&lake, TableKind::Transactions).await.unwrap();
    assert_eq!(table.chain_id().unwrap(), Some(node.chain_id), "{name}");

    let blocks = delta_rows(dir.path(), TableKind::Blocks).await;
    assert_eq!(blocks.len(), 1, "{name}");
    let compared = assert_every_field_landed(name, Object::Block, &node.block, &blocks[0]);
    let txs = node.block["transactions"].as_array().unwrap();
    assert_eq!(blocks[0]["transaction_count"], Some(txs.len().to_string()), "{name}");
    let withdrawals = node.block["withdrawals"].as_array().map(Vec::len);
    assert_eq!(
        blocks[0]["withdrawals"],
        withdrawals.map(|n| format!("{n} withdrawals")),
        "{name}"
    );

    let landed = delta_rows(dir.path(), TableKind::Transactions).await;
    assert_eq!(landed.len(), txs.len(), "{name}");
    let by_hash = |hash: &Value| -> &Row {
        let hash = hash.as_str().unwrap().to_ascii_lowercase();
        landed
            .iter()
            .find(|r| r["hash"].as_deref() == Some(hash.as_str()))
            .unwrap_or_else(|| panic!("{name}: transaction {hash} did not land"))
    };
    let mut fields = compared;
    for tx in txs {
        fields += assert_every_field_landed(name, Object::Transaction, tx, by_hash(&tx["hash"]));
    }
    if let Some(receipts) = &node.receipts {
        for r in receipts {
            fields += assert_every_field_landed(name, Object::Receipt, r, by_hash(&r["transactionHash"]));
        }
        let logs: usize = receipts.iter().map(|r| r["logs"].as_array().unwrap().len()).sum();
        assert_eq!(delta_rows(dir.path(), TableKind::Logs).await.len(), logs, "{name}");
    } else {
        assert!(landed.iter().all(|r| r["receipt_gas_used"].is_none()), "{name}");
    }
    assert!(fields >= 15 * txs.len(), "{name}: only {fields} fields compared");
}

#[tokio::test]
async fn an_op_stack_block_with_its_deposit_and_l1_fees() {
    lands_every_field(
        "base goerli 1041847",
        ChainBlock::new(
            84531,
            "base_goerli/base_goerli_1041847_block_full.json",
            &["base_goerli/base_goerli_1041847_receipts.json"],
        ),
    )
    .await;
}

#[tokio::test]
async fn an_arbitrum_block_with_its_internal_transaction_and_l1_gas() {
    lands_every_field(
        "arbitrum sepolia 185232421",
        ChainBlock::new(
            421614,
            "arbitrum_sepolia/arb_sepolia_185232421_block_full.json",
            &["arbitrum_sepolia/arb_sepolia_185232421_block_receipts.json"],
        ),
    )
    .await;
}

#[tokio::test]
async fn polygon_blocks_with_a_state_sync_receipt() {
    lands_every_field(
        "polygon 38102393",
        ChainBlock::new(
            137,
            "polygon/polygon_38102393_block_full.json",
            &["polygon/polygon_38102393_receipts.json"],
        ),
    )
    .await;
    lands_every_field(
        "polygon 34155965",
        ChainBlock::new(
            137,
            "polygon/polygon_34155965_block_full_TRIMMED.json",
            &[
                "polygon/polygon_34155965_receipt_tx0.json",
                "polygon/polygon_34155965_receipt_statesync_tx1.json",
            ],
        ),
    )
    .await;
}

#[tokio::test]
async fn a_polygon_block_that_leaves_its_state_sync_transaction_to_the_receipts() {
    // As older Polygon nodes serve it: the block without its state-sync transaction, whose
    // receipt (with the bridge's logs) still follows the others.
    let mut node = ChainBlock::new(
        137,
        "polygon/polygon_34155965_block_full_TRIMMED.json",
        &[
            "polygon/polygon_34155965_receipt_tx0.json",
            "polygon/polygon_34155965_receipt_statesync_tx1.json",
        ],
    );
    let state_sync = node.block["transactions"].as_array_mut().unwrap().remove(1);
    let server = RpcServer::start(Arc::new(node.clone()).handler()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(node.number(), node.number(), dir.path().to_str().unwrap());
    cfg.tables = vec![TableKind::Blocks, TableKind::Transactions, TableKind::Logs];
    run(rpc(&server.url), &cfg).await.unwrap();
    assert_eq!(delta_rows(dir.path(), TableKind::Transactions).await.len(), 1);
    let logs = delta_rows(dir.path(), TableKind::Logs).await;
    let receipts = node.receipts.as_ref().unwrap();
    let recorded: usize = receipts.iter().map(|r| r["logs"].as_array().unwrap().len()).sum();
    assert_eq!(logs.len(), recorded);
    let hash = state_sync["hash"].as_str().unwrap();
    let bridged: Vec<&Row> = logs
        .iter()
        .filter(|l| l["transaction_hash"].as_deref() == Some(hash))
        .collect();
    assert_eq!(bridged.len(), receipts[1]["logs"].as_array().unwrap().len());
    assert!(bridged.iter().all(|l| l["transaction_index"].as_deref() == Some("1")));
}

#[tokio::test]
async fn blocks_recorded_without_receipts_post_pectra_gnosis_and_mainnet_blobs() {
    lands_every_field(
        "gnosis 40000000",
        ChainBlock::new(100, "gnosis/gnosis_40000000_block_full.json", &[]),
    )
    .await;
    lands_every_field(
        "mainnet 19900000",
        ChainBlock::new(1, "ethereum/mainnet_19900000_block_full_blobtx.json", &[]),
    )
    .await;
}

/// A transaction row made from one recorded transaction (or, for a receipt recorded alone, the
/// transaction its receipt names) and its receipt, as the lake and the topics hold it.
fn row(tx: &Value, receipt: Option<&Value>) -> Row {
    // From text, as replies are parsed.
    let parsed: RpcTransaction = serde_json::from_str(&tx.to_string()).unwrap();
    let receipt: Option<RpcReceipt> = receipt.map(|r| serde_json::from_str(&r.to_string()).unwrap());
    let number = parsed.block_number.map_or(0, |n| n.to());
    let position = parsed.transaction_index.map_or(0, |i| i.to());
    let block_hash = parsed.block_hash.unwrap_or(B256::ZERO);
    let row = TransactionRow::from_tx(&block_hash, number, 0, position as usize, &parsed, receipt.as_ref());
    row_of_json(&serde_json::to_value(&row).unwrap())
}

/// A cell of a row read from JSON, where a null column is left out.
fn cell(row: &Row, column: &str) -> Option<String> {
    row.get(column).cloned().flatten()
}

/// The transaction a receipt recorded alone belongs to, with the fields the receipt repeats.
fn transaction_of(receipt: &Value) -> Value {
    json!({
        "hash": receipt["transactionHash"], "nonce": "0x0", "from": receipt["from"], "to": receipt["to"],
        "value": "0x0", "gas": "0x0", "input": "0x", "type": receipt["type"],
        "blockHash": receipt["blockHash"], "blockNumber": receipt["blockNumber"],
        "transactionIndex": receipt["transactionIndex"],
    })
}

#[test]
fn transactions_and_receipts_recorded_alone() {
    for file in [
        "optimism/op_mainnet_121272573_tx1_user_deposit.json",
        "optimism/op_mainnet_127446283_tx0_l1info_deposit.json",
    ] {
        let tx = load(file);
        let landed = row(&tx, None);
        assert_every_field_landed(file, Object::Transaction, &tx, &landed);
        assert_eq!(
            cell(&landed, "source_hash"),
            tx["sourceHash"].as_str().map(String::from),
            "{file}"
        );
    }

    let tx = load("ethereum/mainnet_22526256_tx_type4_tx75.json");
    let receipt = load("ethereum/mainnet_22526256_receipt_type4_tx75.json");
    let landed = row(&tx, Some(&receipt));
    assert_every_field_landed("type 4", Object::Transaction, &tx, &landed);
    assert_every_field_landed("type 4", Object::Receipt, &receipt, &landed);
    let auth: Value = serde_json::from_str(&cell(&landed, "authorization_list").unwrap()).unwrap();
    assert_eq!(auth, tx["authorizationList"]);

    let ecotone = load("optimism/op_mainnet_121258977_receipt_tx9_ecotone.json");
    let landed = row(&transaction_of(&ecotone), Some(&ecotone));
    assert_every_field_landed("ecotone", Object::Receipt, &ecotone, &landed);
    assert!(cell(&landed, "receipt_l1_blob_base_fee_scalar").is_some());

    let blobs = load("ethereum/mainnet_20000010_block_receipts_blob.json");
    let blobs = blobs.as_array().unwrap();
    let mut with_blob_gas = 0;
    for r in blobs {
        let landed = row(&transaction_of(r), Some(r));
        assert_every_field_landed("mainnet 20000010", Object::Receipt, r, &landed);
        with_blob_gas += usize::from(cell(&landed, "receipt_blob_gas_used").is_some());
    }
    let recorded = blobs.iter().filter(|r| r.get("blobGasUsed").is_some()).count();
    assert!(recorded > 0);
    assert_eq!(
        with_blob_gas, recorded,
        "one receipt_blob_gas_used per blob transaction"
    );
}

#[tokio::test]
async fn a_value_beyond_its_column_is_kept_exactly_and_counted_not_fatal() {
    let mut node = ChainBlock::new(
        84531,
        "base_goerli/base_goerli_1041847_block_full.json",
        &["base_goerli/base_goerli_1041847_receipts.json"],
    );
    // 2^160 - 1 wei: no Decimal(38,0) holds it, and a testnet can mint it.
    let huge = "f".repeat(40);
    node.block["transactions"][1]["value"] = json!(format!("0x{huge}"));
    let hash = node.block["transactions"][1]["hash"].as_str().unwrap().to_string();
    let server = RpcServer::start(Arc::new(node.clone()).handler()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(node.number(), node.number(), dir.path().to_str().unwrap());
    cfg.tables = vec![TableKind::Blocks, TableKind::Transactions];
    let summary = run(rpc(&server.url), &cfg).await.unwrap();
    assert!(summary.kept_in_extra >= 1, "{summary}");
    assert!(summary.to_string().contains("kept in `extra`"), "{summary}");

    let txs = delta_rows(dir.path(), TableKind::Transactions).await;
    assert_eq!(txs.len(), node.block["transactions"].as_array().unwrap().len());
    let row = txs
        .iter()
        .find(|r| r["hash"].as_deref() == Some(hash.as_str()))
        .unwrap();
    assert_eq!(row["value"], None);
    let extra: Value = serde_json::from_str(row["extra"].as_deref().unwrap()).unwrap();
    let exact = chainx_evm::alloy_primitives::U256::from_str_radix(&huge, 16).unwrap();
    assert_eq!(extra["value"], json!(exact.to_string()));
    // The rest of the row, and of the node's fields, landed as usual.
    assert_eq!(extra["r"], node.block["transactions"][1]["r"]);
    assert!(row["gas"].is_some());
}
