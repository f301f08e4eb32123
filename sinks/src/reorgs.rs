//! The sink's reorg races that the live pipeline cannot be made to show on demand, forced here
//! in order on its message handlers (real Kafka messages, a real local lake).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rdkafka::message::{OwnedMessage, Timestamp};

use super::*;
use chainx_evm::BlockRow;
use chainx_fast::messages::BlockMessage;

const HEIGHT: u64 = 7;
const LANDED: &str = "0xaa";
const REPLACEMENT: &str = "0xbb";

fn message(topic: &str, offset: i64, payload: String) -> OwnedMessage {
    OwnedMessage::new(
        Some(payload.into_bytes()),
        None,
        topic.to_string(),
        Timestamp::NotAvailable,
        0,
        offset,
        None,
    )
}

fn transaction(hash: &str, block_hash: &str) -> String {
    serde_json::json!({
        "hash": hash, "nonce": 0, "block_hash": block_hash, "block_number": HEIGHT, "transaction_index": 0,
        "from_address": "0xaa", "to_address": "0xbb", "value": "5", "gas": 21000, "gas_price": null,
        "input": "0x", "block_timestamp": 1_709_251_200, "max_fee_per_gas": null, "max_priority_fee_per_gas": null,
        "transaction_type": 2, "receipt_cumulative_gas_used": null, "receipt_gas_used": null,
        "receipt_contract_address": null, "receipt_status": null, "receipt_effective_gas_price": null,
        "tx_kind": "native_token_transfer"
    })
    .to_string()
}

fn block(hash: &str, removed: bool) -> String {
    let block = BlockRow {
        number: HEIGHT,
        hash: hash.to_string(),
        parent_hash: "0x06".into(),
        gas_used: Some(21_000),
        timestamp: 1_709_251_200,
        transaction_count: 1,
        ..BlockRow::default()
    };
    serde_json::to_string(&BlockMessage { block, removed }).unwrap()
}

/// Tables on a new local lake whose `transactions` coverage holds HEIGHT, landed by this sink
/// with the hash LANDED.
async fn landed_height(dir: &tempfile::TempDir) -> Tables {
    let lake = chainx_tables::Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let mut tables = Tables {
        blocks: LakeTable::open_or_create(&lake, TableKind::Blocks).await.unwrap(),
        txs: LakeTable::open_or_create(&lake, TableKind::Transactions).await.unwrap(),
        decoded: LakeTable::open_or_create(&lake, TableKind::DecodedCalls).await.unwrap(),
        covered_blocks: BlockRanges::span(HEIGHT, HEIGHT),
        covered_txs: BlockRanges::span(HEIGHT, HEIGHT),
        covered_decoded: BlockRanges::new(),
        starts: HashMap::new(),
        landed_hashes: BTreeMap::new(),
    };
    tables.landed(HEIGHT, LANDED.to_string());
    tables
}

#[tokio::test]
async fn a_replacement_blocks_transaction_before_the_removed_event_waits_for_its_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut tables = landed_height(&dir).await;
    let (mut blocks, mut txs, mut decoded) = (BlocksBuffer::default(), TxBuffer::default(), DecodedCalls::default());
    let tx_tp: Tp = (Arc::from("t.native"), 0);
    let block_tp: Tp = (Arc::from("t.blocks"), 0);

    // A redelivered transaction of the landed block: dropped.
    let again = message("t.native", 0, transaction("0x01", LANDED));
    on_transaction(&again, &tx_tp, &tables, &mut txs).unwrap();
    assert_eq!(txs.rows, 0);
    // The replacement block's transaction, before the old block's removed event: kept.
    let early = message("t.native", 1, transaction("0x02", REPLACEMENT));
    on_transaction(&early, &tx_tp, &tables, &mut txs).unwrap();
    assert_eq!(
        txs.rows, 1,
        "the sink dropped a transaction of the new branch as landed"
    );

    let removed = message("t.blocks", 0, block(LANDED, true));
    on_block(&removed, &block_tp, &mut tables, &mut blocks, &mut txs, &mut decoded).unwrap();
    assert_eq!(txs.unwinds.len(), 1);
    assert!(!tables.covered_txs.contains(HEIGHT));
    let replacement = message("t.blocks", 1, block(REPLACEMENT, false));
    on_block(
        &replacement,
        &block_tp,
        &mut tables,
        &mut blocks,
        &mut txs,
        &mut decoded,
    )
    .unwrap();
    assert_eq!(
        txs.complete(),
        vec![HEIGHT],
        "the replacement block is complete and lands"
    );
}
