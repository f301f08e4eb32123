//! The per-message handlers of the block and transaction topics and the decoder's: each message
//! is parsed, checked against what the tables already hold, and buffered or skipped, and says
//! which block it was for (flow control paces partitions by that).

use chainx_evm::{DecodedCallRow, TransactionRow};
use chainx_fast::messages::BlockMessage;
use chainx_tables::{BlockRanges, RemovedBlock, TableKind};
use rdkafka::message::Message;

use crate::buffer::{BlocksBuffer, Tp, TxBuffer, Unwind};
use crate::decoded_calls::DecodedCalls;
use crate::flow::Delivery;
use crate::{block_date, Tables};

/// A message's JSON payload, as `what`. The text is checked as UTF-8 once, whole: `from_slice`
/// would check each string field on its own, at a tenth of the parse.
pub(crate) fn parse<'a, T: serde::Deserialize<'a>>(m: &'a impl Message, what: &str) -> std::result::Result<T, String> {
    serde_json::from_str(utf8(m, what)?).map_err(|e| format!("not {what}: {e}"))
}

fn utf8<'a>(m: &'a impl Message, what: &str) -> std::result::Result<&'a str, String> {
    std::str::from_utf8(m.payload().unwrap_or_default()).map_err(|e| format!("not {what}: not UTF-8: {e}"))
}

/// A block message: buffer the block, or take a removed one out (of the buffers, or of the
/// tables at the next flush).
pub(crate) fn on_block(
    m: &impl Message,
    tp: &Tp,
    tables: &mut Tables,
    blocks: &mut BlocksBuffer,
    txs: &mut TxBuffer,
    decoded: &mut DecodedCalls,
) -> std::result::Result<Option<Delivery>, String> {
    let msg: BlockMessage = parse(m, "a block message")?;
    let n = msg.block.number;
    let offset = m.offset();
    let removed = RemovedBlock {
        number: n,
        hash: msg.block.hash.clone(),
        date: block_date(msg.block.timestamp),
    };
    if msg.removed {
        // Calls of the removed block: dropped from the buffer now, deleted from the table at
        // the next flush (idempotent, so a replay of this event is harmless).
        decoded.remove_block(&removed);
        tables.covered_decoded = tables.covered_decoded.subtract(&BlockRanges::span(n, n));
    }
    // The blocks table.
    if tables.seen(TableKind::Blocks, tp, offset) {
        // An earlier commit of this table already accounted for this message.
    } else if msg.removed && tables.covered_blocks.contains(n) {
        blocks.unwinds.push(Unwind {
            block: removed.clone(),
            tp: tp.clone(),
            offset,
        });
        blocks.offsets.hold(tp, offset);
        // The replacement must not be skipped as covered before the unwind commits.
        tables.covered_blocks = tables.covered_blocks.subtract(&BlockRanges::span(n, n));
    } else if tables.covered_blocks.contains(n) {
        blocks.offsets.consume(tp, offset);
    } else if msg.removed {
        if let Some((row, old_tp, old)) = blocks.rows.remove(&n) {
            if row.hash != msg.block.hash {
                blocks.rows.insert(n, (row, old_tp, old));
            } else {
                blocks.offsets.release(&old_tp, old);
            }
        }
        blocks.offsets.consume(tp, offset);
    } else {
        if let Some((_, old_tp, old)) = blocks.rows.remove(&n) {
            blocks.offsets.release(&old_tp, old);
        }
        blocks.rows.insert(n, (msg.block.clone(), tp.clone(), offset));
        blocks.offsets.hold(tp, offset);
    }
    // The transactions table needs the block's transaction count.
    if tables.seen(TableKind::Transactions, tp, offset) {
        // An earlier commit of this table already accounted for this message.
    } else if msg.removed && tables.covered_txs.contains(n) {
        txs.unwinds.push(Unwind {
            block: removed,
            tp: tp.clone(),
            offset,
        });
        txs.offsets.hold(tp, offset);
        tables.covered_txs = tables.covered_txs.subtract(&BlockRanges::span(n, n));
        tables.landed_hashes.remove(&n);
    } else if tables.covered_txs.contains(n) {
        txs.offsets.consume(tp, offset);
    } else if msg.removed {
        if let Some(entry) = txs.blocks.remove(&n) {
            if entry.0 != msg.block.hash {
                txs.blocks.insert(n, entry);
            } else {
                txs.offsets.release(&entry.2, entry.3);
            }
        }
        txs.offsets.consume(tp, offset);
    } else {
        if let Some((_, _, old_tp, old)) = txs.blocks.remove(&n) {
            txs.offsets.release(&old_tp, old);
        }
        txs.blocks.insert(
            n,
            (msg.block.hash.clone(), msg.block.transaction_count, tp.clone(), offset),
        );
        txs.offsets.hold(tp, offset);
    }
    // Held unless removed: a removed event is at most an unwind, a few bytes.
    Ok(Some(if msg.removed {
        Delivery::skipped(n)
    } else {
        Delivery::parsed(n, m)
    }))
}

pub(crate) fn on_transaction(
    m: &impl Message,
    tp: &Tp,
    tables: &Tables,
    txs: &mut TxBuffer,
) -> std::result::Result<Option<Delivery>, String> {
    let text = utf8(m, "a transaction")?;
    // Read without copying a string: the message itself is what is buffered.
    let unescaped: String;
    let (text, row) = match serde_json::from_str::<TransactionRow<&str>>(text) {
        Ok(row) => (text, row),
        Err(_) => {
            unescaped = without_escapes(text)?;
            let row = serde_json::from_str(&unescaped).map_err(|e| format!("not a transaction: {e}"))?;
            (unescaped.as_str(), row)
        }
    };
    let offset = m.offset();
    let block = row.block_number;
    if tables.seen(TableKind::Transactions, tp, offset)
        || tables.block_landed(&tables.covered_txs, row.block_number, row.block_hash)
    {
        txs.offsets.consume(tp, offset);
        return Ok(Some(Delivery::skipped(block)));
    }
    let held = if txs
        .txs
        .entry(row.block_number)
        .or_default()
        .insert(&row, text, tp, offset)
    {
        txs.rows += 1;
        txs.offsets.hold(tp, offset);
        true
    } else {
        // A redelivery (at-least-once upstream): the copy buffered already counts.
        txs.offsets.consume(tp, offset);
        false
    };
    Ok(Some(if held {
        Delivery::kept(block, m)
    } else {
        Delivery::skipped(block)
    }))
}

/// A transaction message whose strings hold JSON escapes (valid JSON, if not what our producers
/// write) cannot be read borrowed: it is buffered re-written without them, as one that can.
fn without_escapes(text: &str) -> std::result::Result<String, String> {
    let row: TransactionRow = serde_json::from_str(text).map_err(|e| format!("not a transaction: {e}"))?;
    serde_json::to_string(&row).map_err(|e| format!("not a transaction: {e}"))
}

pub(crate) fn on_decoded(
    m: &impl Message,
    tp: &Tp,
    tables: &Tables,
    decoded: &mut DecodedCalls,
) -> std::result::Result<Option<Delivery>, String> {
    let row: DecodedCallRow = parse(m, "a decoded call")?;
    let offset = m.offset();
    let block = row.block_number;
    let landed = tables.seen(TableKind::DecodedCalls, tp, offset)
        || tables.block_landed(&tables.covered_decoded, row.block_number, &row.block_hash);
    let held = decoded.on_call(row, tp, offset, landed);
    Ok(Some(if held {
        Delivery::parsed(block, m)
    } else {
        Delivery::skipped(block)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_with_escaped_strings_is_buffered_without_them() {
        let plain = serde_json::json!({
            "hash": "0x01", "nonce": 0, "block_hash": "0x0b", "block_number": 1, "transaction_index": 0,
            "from_address": "0xaa", "to_address": null, "value": "5", "gas": 1, "gas_price": null,
            "input": "0x", "block_timestamp": 1, "max_fee_per_gas": null, "max_priority_fee_per_gas": null,
            "transaction_type": null, "receipt_cumulative_gas_used": null, "receipt_gas_used": null,
            "receipt_contract_address": null, "receipt_status": null, "receipt_effective_gas_price": null,
            "tx_kind": "contract_deployment"
        })
        .to_string();
        let escaped = plain.replace("\"0x01\"", "\"\\u0030x01\"");
        assert_ne!(escaped, plain);
        assert!(
            serde_json::from_str::<TransactionRow<&str>>(&escaped).is_err(),
            "cannot borrow"
        );
        let text = without_escapes(&escaped).unwrap();
        let row: TransactionRow<&str> = serde_json::from_str(&text).unwrap();
        assert_eq!(row.hash, "0x01");
        let e = without_escapes("{\"hash\": 1}").unwrap_err();
        assert!(e.starts_with("not a transaction: "), "{e}");
    }
}
