//! `tokens` rows, as ethereum-etl and BigQuery's `crypto_ethereum.tokens`: the name, symbol,
//! decimals and total supply of every contract that looks like an ERC-20 or ERC-721 by its
//! function sighashes ([`crate::contracts`]), read with four `eth_call`s at the block that
//! created it, all of a fetch's tokens in one request. A node that keeps no state that old (any
//! but an archive node) is asked at its newest block instead, as ethereum-etl always asks:
//! names and symbols do not change, the total supply is then today's.
//!
//! What a token returns is read as ethereum-etl reads it, never as an error: an ABI `string`,
//! else a `bytes32` (early tokens such as EOS and MKR), NUL characters removed; a function the
//! contract lacks, a revert or data that reads as neither leaves the column null. Unlike
//! ethereum-etl, one call serves both readings of a string (it calls again with the other ABI),
//! and the upper-case `NAME()`/`SYMBOL()`/`DECIMALS()` variants are not tried.

use std::sync::atomic::{AtomicBool, Ordering};

use alloy_primitives::{Bytes, U256};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::contracts::{contracts_of, ContractRow};
use crate::error::Result;
use crate::fetched::FetchedBlock;
use crate::rpc::{Call, CallResult, RpcClient};

/// `name()`, `symbol()`, `decimals()` and `totalSupply()`, in the order of [`token_calls`].
const SELECTORS: [&str; 4] = ["0x06fdde03", "0x95d89b41", "0x313ce567", "0x18160ddd"];

/// The calls that read one token ([`token_calls`]).
const CALLS_PER_TOKEN: usize = SELECTORS.len();

/// One row of `tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub address: String,
    pub symbol: Option<String>,
    pub name: Option<String>,
    /// ERC-20's `uint8`: null when the contract returns more than 255.
    pub decimals: Option<u64>,
    /// A decimal string: exact for all of `uint256`, as BigQuery's column.
    pub total_supply: Option<String>,
    pub block_timestamp: u64,
    pub block_number: u64,
    pub block_hash: String,
}

/// Whether a created contract gets a `tokens` row.
pub fn is_token(contract: &ContractRow) -> bool {
    contract.is_erc20 || contract.is_erc721
}

/// The four calls that read a token, at `block` (the state after it, so a supply minted by the
/// constructor counts), or at the newest block.
pub fn token_calls(address: &str, block: Option<u64>) -> [Call; 4] {
    let at = block.map_or_else(|| "latest".to_string(), |n| format!("{n:#x}"));
    SELECTORS.map(|data| Call::new("eth_call", json!([{"to": address, "data": data}, at])))
}

/// Whether a call failed because the node no longer has the state of the block asked for:
/// geth's missing trie node, Reth's and Nethermind's pruned state, Erigon's unavailable
/// history, anvil's block out of range (a loaded state dump keeps only its newest state).
pub fn is_state_unavailable(reply: &CallResult) -> bool {
    let Err(e) = reply else { return false };
    let m = e.message.to_ascii_lowercase();
    [
        "missing trie node",
        "pruned",
        "not available",
        "historical state",
        "header not found",
        "blockoutofrange",
        "state not found",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// Every block's tokens: the four calls of each token its traces created, all blocks' in one
/// request (split at the provider's batch limit). A call the node answers with an error (a
/// revert, a missing function) leaves its column null, as ethereum-etl does. `historical_state`
/// is what the run learnt of the node: once it lacks an old block's state, tokens are read at
/// the newest block for the rest of the run, and the run says so once.
pub(crate) async fn read_tokens(
    client: &RpcClient,
    historical_state: &AtomicBool,
    blocks: &mut [FetchedBlock],
) -> Result<()> {
    let created: Vec<(usize, ContractRow)> = blocks
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            contracts_of(f.traces.as_deref().unwrap_or_default())
                .into_iter()
                .filter(is_token)
                .map(move |c| (i, c))
        })
        .collect();
    let at_creation = historical_state.load(Ordering::Relaxed);
    let mut replies = token_replies(client, &created, at_creation).await?;
    if let Some(Err(e)) = replies.iter().find(|r| at_creation && is_state_unavailable(r)) {
        if historical_state.swap(false, Ordering::Relaxed) {
            tracing::info!(
                endpoint = client.endpoint(),
                "the node keeps no state of old blocks ({}); reading tokens at the newest block",
                client.scrub(&e.message)
            );
        }
        replies = token_replies(client, &created, false).await?;
    }
    for f in blocks.iter_mut() {
        f.tokens = Some(Vec::new());
    }
    for ((i, contract), replies) in created.iter().zip(replies.chunks(CALLS_PER_TOKEN)) {
        let row = TokenRow::from_replies(contract, replies);
        blocks[*i].tokens.get_or_insert_with(Vec::new).push(row);
    }
    Ok(())
}

/// The replies to the tokens' calls, at their creation blocks or at the newest block.
async fn token_replies(
    client: &RpcClient,
    created: &[(usize, ContractRow)],
    at_creation: bool,
) -> Result<Vec<CallResult>> {
    let calls: Vec<Call> = created
        .iter()
        .flat_map(|(_, c)| token_calls(&c.address, at_creation.then_some(c.block_number)))
        .collect();
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    client.batch_all(&calls).await
}

impl TokenRow {
    /// The row of `contract` from the replies to its [`token_calls`], in their order.
    pub fn from_replies(contract: &ContractRow, replies: &[CallResult]) -> TokenRow {
        let returned = |i: usize| replies.get(i).and_then(returned_bytes);
        TokenRow {
            address: contract.address.clone(),
            name: returned(0).and_then(|b| text(&b)),
            symbol: returned(1).and_then(|b| text(&b)),
            decimals: returned(2)
                .and_then(|b| uint(&b))
                .and_then(|d| u8::try_from(d).ok())
                .map(u64::from),
            total_supply: returned(3).and_then(|b| uint(&b)).map(|s| s.to_string()),
            block_timestamp: contract.block_timestamp,
            block_number: contract.block_number,
            block_hash: contract.block_hash.clone(),
        }
    }
}

/// The bytes a call returned; `None` for a node error (a revert, a missing function) or a
/// reply that is not hex data.
fn returned_bytes(reply: &CallResult) -> Option<Vec<u8>> {
    let raw = reply.as_ref().ok()?.as_ref()?;
    serde_json::from_str::<Bytes>(raw.get()).ok().map(|b| b.to_vec())
}

/// The first 32-byte word as a `uint256`; `None` when fewer than 32 bytes came back.
fn uint(data: &[u8]) -> Option<U256> {
    data.get(..32).map(U256::from_be_slice)
}

/// Returned data read as an ABI `string`, else as a `bytes32`; NULs removed (BigQuery rejects
/// them), and `None` for what is empty or not UTF-8.
pub fn text(data: &[u8]) -> Option<String> {
    let bytes = abi_string(data).or_else(|| data.get(..32))?;
    let s = std::str::from_utf8(bytes).ok()?.replace('\0', "");
    (!s.is_empty()).then_some(s)
}

/// The bytes of an ABI-encoded dynamic `string`: an offset word, then at the offset a length
/// word and the bytes; `None` when either points outside the data.
fn abi_string(data: &[u8]) -> Option<&[u8]> {
    let word = |at: usize| -> Option<usize> {
        let w = U256::from_be_slice(data.get(at..at.checked_add(32)?)?);
        usize::try_from(w).ok()
    };
    if data.len() < 64 {
        return None;
    }
    let offset = word(0)?;
    let len = word(offset)?;
    let start = offset.checked_add(32)?;
    data.get(start..start.checked_add(len)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        alloy_primitives::hex::decode(s).unwrap()
    }

    #[test]
    fn a_bytes32_symbol_reads_as_its_text() {
        // EOS's symbol(), from ethereum-etl's token_with_alternative_return_type.
        let eos = hex("0x454f530000000000000000000000000000000000000000000000000000000000");
        assert_eq!(text(&eos).as_deref(), Some("EOS"));
        assert_eq!(text(&[0; 32]), None, "all zeros are no name");
    }

    #[test]
    fn an_abi_string_loses_its_nul_padding() {
        // token_with_invalid_data's name(): a string of six bytes, "ETH" and three NULs.
        let eth = hex("0x000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000064554480000000000000000000000000000000000000000000000000000000000");
        assert_eq!(text(&eth).as_deref(), Some("ETH"));
    }

    #[test]
    fn data_that_points_outside_itself_is_not_a_string() {
        let mut bad = vec![0u8; 64];
        bad[31] = 0x40; // the offset points at the end: no length word there
        assert_eq!(abi_string(&bad), None);
        bad[31] = 0x20;
        bad[63] = 0xff; // a length beyond the data
        assert_eq!(abi_string(&bad), None);
        assert_eq!(text(&[0xff; 32]), None, "not UTF-8");
        assert_eq!(text(&[0x41; 16]), None, "shorter than a word");
    }

    #[test]
    fn decimals_beyond_a_uint8_and_short_replies_are_null() {
        let contract = ContractRow {
            address: "0x01".into(),
            is_erc20: true,
            ..ContractRow::default()
        };
        let reply = |s: &str| -> CallResult {
            Ok(Some(
                serde_json::value::RawValue::from_string(format!("\"{s}\"")).unwrap(),
            ))
        };
        let word = |v: u64| format!("0x{v:064x}");
        let row = TokenRow::from_replies(
            &contract,
            &[
                Err(crate::rpc::CallError {
                    code: 3,
                    message: "execution reverted".into(),
                }),
                reply("0x"),
                reply(&word(256)),
                reply(&format!("0x{}", "f".repeat(64))),
            ],
        );
        assert_eq!((row.name, row.symbol, row.decimals), (None, None, None));
        assert_eq!(row.total_supply, Some(U256::MAX.to_string()));
        let row = TokenRow::from_replies(&contract, &[reply("0x"), reply("0x"), reply(&word(18)), reply("0x12")]);
        assert_eq!((row.decimals, row.total_supply), (Some(18), None));
    }
}
