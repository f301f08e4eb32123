//! A chain shaped like mainnet, for any range, as a pure function of block numbers: about 150
//! transactions and 350 logs a block, EIP-1559 and legacy transactions, calldata of real sizes
//! (ERC-20 transfers, router swaps, large contract calls), receipts with logs and blooms,
//! consistent parent hashes and unique transaction hashes, and the traces of their calls
//! (`traces`). [`crate::mainnet_node`] serves it.

use serde_json::{json, Value};

mod traces;

/// Transactions per block: mainnet's average over 2023.
pub const TXS_PER_BLOCK: u64 = 150;
const GENESIS_TIME: u64 = 1_438_269_973;
const TRANSFER: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
const APPROVAL: &str = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925";
const SYNC: &str = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1";
const SWAP: &str = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822";

/// splitmix64: a well-mixed u64 of a u64.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn seed(kind: u64, n: u64, i: u64) -> u64 {
    mix(mix(kind) ^ mix(n).rotate_left(17) ^ i)
}

/// `words` 32-byte words of hex (no `0x`) from `s`.
fn hex_words(s: u64, words: usize) -> String {
    (0..words * 4).map(|k| format!("{:016x}", mix(s ^ k as u64))).collect()
}

/// `words` ABI-encoded argument words (no `0x`), shaped like mainnet calldata, about half zero
/// bytes: addresses (12 leading zero bytes), amounts (most high bytes zero), and hashes or
/// packed bytes (no zeros). Random words throughout made the lake's `input` column
/// incompressible, which real calldata is not.
fn abi_words(s: u64, words: usize) -> String {
    (0..words)
        .map(|k| {
            let r = mix(s ^ ((k as u64) << 1));
            match r % 4 {
                0 => format!("{:0>64}", &hex_words(r, 1)[..40]),
                1 | 2 => format!("{:064x}", r >> 8),
                _ => hex_words(r, 1),
            }
        })
        .collect()
}

fn hash(s: u64) -> String {
    format!("0x{}", hex_words(s, 1))
}

fn address(s: u64) -> String {
    format!("0x{}", &hex_words(s, 1)[..40])
}

pub(crate) fn quantity(v: u64) -> String {
    format!("{v:#x}")
}

/// A 32-byte word holding an address (a log topic or ABI argument).
fn padded(address: &str) -> String {
    format!("0x{:0>64}", address.trim_start_matches("0x"))
}

/// The shape of transaction `i` of block `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// ETH to an account: no input, no logs.
    Native,
    /// `transfer(address,uint256)` on a token: 68 bytes of input, one Transfer log.
    Erc20,
    /// A router swap: about 1.5 kB of input; Approval, two Transfers, Sync and Swap.
    Swap,
    /// A large contract call: 10 kB of input, four logs.
    Large,
}

fn shape(n: u64, i: u64) -> Shape {
    match seed(1, n, i) % 10 {
        0 | 1 => Shape::Native,
        2..=5 => Shape::Erc20,
        6..=8 => Shape::Swap,
        _ => Shape::Large,
    }
}

/// The mainnet-shaped chain: a pure function of block numbers.
#[derive(Debug, Clone, Copy)]
pub struct MainnetShape;

impl MainnetShape {
    pub fn block_hash(&self, n: u64) -> String {
        hash(seed(2, n, 0))
    }

    /// A transaction hash that names its block and position in its last 11 bytes.
    pub fn tx_hash(&self, n: u64, i: u64) -> String {
        format!("0x{}{n:016x}{i:06x}", &hex_words(seed(3, n, i), 1)[..42])
    }

    pub(crate) fn from_tx_hash(hash: &str) -> Option<(u64, u64)> {
        let hex = hash.strip_prefix("0x")?;
        (hex.len() == 64).then_some(())?;
        Some((
            u64::from_str_radix(&hex[42..58], 16).ok()?,
            u64::from_str_radix(&hex[58..], 16).ok()?,
        ))
    }

    fn account(&self, k: u64) -> String {
        address(seed(4, k % 5000, 0))
    }

    fn token(&self, k: u64) -> String {
        address(seed(5, k % 60, 0))
    }

    fn pair(&self, k: u64) -> String {
        address(seed(6, k % 40, 0))
    }

    fn router(&self) -> String {
        address(seed(7, 0, 0))
    }

    fn gas_used(&self, n: u64, i: u64) -> u64 {
        match shape(n, i) {
            Shape::Native => 21_000,
            Shape::Erc20 => 51_000 + seed(8, n, i) % 10_000,
            Shape::Swap => 140_000 + seed(8, n, i) % 60_000,
            Shape::Large => 300_000 + seed(8, n, i) % 200_000,
        }
    }

    fn base_fee(&self, n: u64) -> u64 {
        10_000_000_000 + seed(9, n, 0) % 20_000_000_000
    }

    pub fn transaction(&self, n: u64, i: u64) -> Value {
        let s = seed(10, n, i);
        let from = self.account(s);
        let (to, value, input) = match shape(n, i) {
            Shape::Native => (
                self.account(s >> 8),
                (s % 5_000) as u128 * 1_000_000_000_000_000,
                "0x".to_string(),
            ),
            Shape::Erc20 => {
                let input = format!("0xa9059cbb{}{:064x}", &padded(&self.account(s >> 12))[2..], s >> 4);
                (self.token(s >> 4), 0, input)
            }
            Shape::Swap => {
                let words = 40 + (s % 16) as usize;
                (
                    self.router(),
                    (s % 3) as u128 * 1_000_000_000_000_000,
                    format!("0x38ed1739{}", abi_words(s, words)),
                )
            }
            Shape::Large => (self.pair(s), 0, format!("0x1cff79cd{}", abi_words(s, 300))),
        };
        let base = self.base_fee(n);
        let tip = 100_000_000 + s % 2_000_000_000;
        let mut tx = json!({
            "hash": self.tx_hash(n, i),
            "nonce": quantity(s % 100_000),
            "blockHash": self.block_hash(n),
            "blockNumber": quantity(n),
            "transactionIndex": quantity(i),
            "from": from,
            "to": to,
            "value": format!("{value:#x}"),
            "gas": quantity(self.gas_used(n, i) * 3 / 2),
            "gasPrice": quantity(base + tip),
            "input": input,
            "chainId": "0x1",
            "v": "0x1",
            "r": hash(s ^ 1),
            "s": hash(s ^ 2),
        });
        if s.is_multiple_of(7) {
            tx["type"] = json!("0x0");
            tx["v"] = json!("0x25");
        } else {
            tx["type"] = json!("0x2");
            tx["maxFeePerGas"] = json!(quantity(base * 2 + tip));
            tx["maxPriorityFeePerGas"] = json!(quantity(tip));
            tx["accessList"] = json!([]);
            tx["yParity"] = json!("0x1");
        }
        tx
    }

    /// The logs of transaction `i` of block `n`, without their block-wide `logIndex`.
    fn tx_logs(&self, n: u64, i: u64) -> Vec<(String, Vec<String>, String)> {
        let s = seed(11, n, i);
        let from = self.account(seed(10, n, i));
        let word = |k: u64| format!("0x{}", hex_words(s ^ k, 1));
        let amount = |k: u64| format!("0x{:064x}", mix(s ^ k) % 10u64.pow(18));
        match shape(n, i) {
            Shape::Native => vec![],
            Shape::Erc20 => vec![(
                self.token(seed(10, n, i) >> 4),
                vec![TRANSFER.into(), padded(&from), padded(&self.account(s))],
                amount(1),
            )],
            Shape::Swap => {
                let (pair, a, b) = (self.pair(s), self.token(s), self.token(s >> 7));
                vec![
                    (
                        a.clone(),
                        vec![APPROVAL.into(), padded(&from), padded(&self.router())],
                        word(2),
                    ),
                    (a, vec![TRANSFER.into(), padded(&from), padded(&pair)], amount(3)),
                    (b, vec![TRANSFER.into(), padded(&pair), padded(&from)], amount(4)),
                    (
                        pair.clone(),
                        vec![SYNC.into()],
                        format!("{}{}", amount(5), &amount(6)[2..]),
                    ),
                    (
                        pair,
                        vec![SWAP.into(), padded(&self.router()), padded(&from)],
                        format!("0x{}", hex_words(s ^ 7, 4)),
                    ),
                ]
            }
            Shape::Large => (0..4)
                .map(|k| {
                    (
                        self.pair(s + k),
                        vec![word(10 + k), word(20 + k)],
                        format!("0x{}", hex_words(s ^ (30 + k), 1 + k as usize)),
                    )
                })
                .collect(),
        }
    }

    /// How many logs transaction `i` of block `n` emits (without building them).
    fn log_count(n: u64, i: u64) -> u64 {
        match shape(n, i) {
            Shape::Native => 0,
            Shape::Erc20 => 1,
            Shape::Swap => 5,
            Shape::Large => 4,
        }
    }

    /// The receipt of transaction `i` of block `n`, on its own (`eth_getTransactionReceipt`).
    pub fn receipt(&self, n: u64, i: u64) -> Value {
        let cumulative: u64 = (0..=i).map(|j| self.gas_used(n, j)).sum();
        let first_log: u64 = (0..i).map(|j| Self::log_count(n, j)).sum();
        let tx = self.transaction(n, i);
        let logs: Vec<Value> = self
            .tx_logs(n, i)
            .into_iter()
            .zip(first_log..)
            .map(|((address, topics, data), index)| self.log(n, i, index, address, topics, data))
            .collect();
        json!({
            "transactionHash": tx["hash"],
            "transactionIndex": quantity(i),
            "blockHash": self.block_hash(n),
            "blockNumber": quantity(n),
            "from": tx["from"],
            "to": tx["to"],
            "cumulativeGasUsed": quantity(cumulative),
            "gasUsed": quantity(self.gas_used(n, i)),
            "effectiveGasPrice": tx["gasPrice"],
            "contractAddress": null,
            "logs": logs,
            "logsBloom": format!("0x{}", hex_words(seed(12, n, i), 8)),
            "status": "0x1",
            "type": tx["type"],
        })
    }

    pub fn receipts(&self, n: u64) -> Value {
        Value::Array((0..TXS_PER_BLOCK).map(|i| self.receipt(n, i)).collect())
    }

    fn log(&self, n: u64, i: u64, index: u64, address: String, topics: Vec<String>, data: String) -> Value {
        json!({
            "address": address,
            "topics": topics,
            "data": data,
            "blockNumber": quantity(n),
            "blockHash": self.block_hash(n),
            "transactionHash": self.tx_hash(n, i),
            "transactionIndex": quantity(i),
            "logIndex": quantity(index),
            "removed": false,
        })
    }

    pub fn block(&self, n: u64, full: bool) -> Value {
        let transactions: Vec<Value> = (0..TXS_PER_BLOCK)
            .map(|i| {
                if full {
                    self.transaction(n, i)
                } else {
                    json!(self.tx_hash(n, i))
                }
            })
            .collect();
        let gas_used: u64 = (0..TXS_PER_BLOCK).map(|i| self.gas_used(n, i)).sum();
        json!({
            "number": quantity(n),
            "hash": self.block_hash(n),
            "parentHash": if n == 0 { hash(0) } else { self.block_hash(n - 1) },
            "nonce": "0x0000000000000000",
            "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
            "logsBloom": format!("0x{}", hex_words(seed(13, n, 0), 8)),
            "transactionsRoot": hash(seed(14, n, 0)),
            "stateRoot": hash(seed(15, n, 0)),
            "receiptsRoot": hash(seed(16, n, 0)),
            "miner": address(seed(17, n % 20, 0)),
            "difficulty": "0x0",
            "totalDifficulty": "0xc70d815d562d3cfa955",
            "size": quantity(120_000 + seed(18, n, 0) % 60_000),
            "extraData": "0x6265617665726275696c642e6f7267",
            "gasLimit": quantity(30_000_000),
            "gasUsed": quantity(gas_used),
            "timestamp": quantity(GENESIS_TIME + 12 * n),
            "baseFeePerGas": quantity(self.base_fee(n)),
            "mixHash": hash(seed(19, n, 0)),
            "withdrawalsRoot": hash(seed(20, n, 0)),
            "withdrawals": (0..16).map(|k| json!({
                "index": quantity(n * 16 + k),
                "validatorIndex": quantity(seed(21, n, k) % 900_000),
                "address": address(seed(22, n, k)),
                "amount": quantity(15_000_000 + seed(23, n, k) % 5_000_000),
            })).collect::<Vec<_>>(),
            "uncles": [],
            "transactions": transactions,
        })
    }

    /// `eth_getLogs` over `from..=to`, optionally of one address and a first topic.
    pub fn logs(&self, from: u64, to: u64, address: Option<&str>, topic0: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        for n in from..=to {
            for receipt in self.receipts(n).as_array().into_iter().flatten() {
                for log in receipt["logs"].as_array().into_iter().flatten() {
                    let address_ok = address.is_none_or(|a| log["address"] == a);
                    let topic_ok = topic0.is_none_or(|t| log["topics"][0] == t);
                    if address_ok && topic_ok {
                        out.push(log.clone());
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_chain_and_have_mainnet_shape() {
        let chain = MainnetShape;
        let n = 18_000_000;
        let block = chain.block(n, true);
        assert_eq!(block["parentHash"], json!(chain.block_hash(n - 1)));
        assert_ne!(chain.block_hash(n), chain.block_hash(n + 1));
        let receipts = chain.receipts(n);
        assert_eq!(receipts[7], chain.receipt(n, 7));
        let indexes: Vec<u64> = receipts
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["logs"].as_array().unwrap().iter())
            .map(|l| u64::from_str_radix(l["logIndex"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
            .collect();
        assert_eq!(
            indexes,
            (0..indexes.len() as u64).collect::<Vec<_>>(),
            "log indexes run through the block"
        );
        let logs: usize = receipts
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["logs"].as_array().unwrap().len())
            .sum();
        let bytes = block.to_string().len() + receipts.to_string().len();
        assert!((250..=450).contains(&logs), "{logs} logs");
        assert!((500_000..=1_500_000).contains(&bytes), "{bytes} bytes of JSON");
        let hashes: std::collections::HashSet<String> = (0..TXS_PER_BLOCK).map(|i| chain.tx_hash(n, i)).collect();
        assert_eq!(hashes.len() as u64, TXS_PER_BLOCK);
        assert_eq!(MainnetShape::from_tx_hash(&chain.tx_hash(n, 7)), Some((n, 7)));
        let types: std::collections::HashSet<String> = block["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["type"].to_string())
            .collect();
        assert_eq!(types.len(), 2, "legacy and EIP-1559 transactions");
    }
}
