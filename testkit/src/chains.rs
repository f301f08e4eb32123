//! Real replies of other EVM chains (OP stack, Arbitrum, Polygon PoS, Gnosis, mainnet blobs and
//! EIP-7702), read in place from `../shared/fixtures/chains` (or `CHAINX_CHAIN_FIXTURES`), served
//! as that chain's node would serve one block; and the check that every field a node sent
//! landed, in its column or in `extra`, with its exact value.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::rpc_server::{handler, Handler, Reply};
use crate::workspace_root;

pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var("CHAINX_CHAIN_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("../shared/fixtures/chains"));
    assert!(
        dir.is_dir(),
        "no chain fixtures at {} (set CHAINX_CHAIN_FIXTURES)",
        dir.display()
    );
    dir
}

/// One fixture file's reply: the envelope's `result`, or the bare result.
pub fn load(file: &str) -> Value {
    let path = fixtures_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    if v.get("jsonrpc").is_some() {
        v["result"].clone()
    } else {
        v
    }
}

/// A node of chain `chain_id` that holds one block (and its receipts, when recorded).
#[derive(Debug, Clone)]
pub struct ChainBlock {
    pub chain_id: u64,
    pub block: Value,
    pub receipts: Option<Vec<Value>>,
}

impl ChainBlock {
    pub fn new(chain_id: u64, block_file: &str, receipt_files: &[&str]) -> ChainBlock {
        let receipts = (!receipt_files.is_empty()).then(|| {
            receipt_files
                .iter()
                .flat_map(|f| match load(f) {
                    Value::Array(all) => all,
                    one => vec![one],
                })
                .collect()
        });
        ChainBlock {
            chain_id,
            block: load(block_file),
            receipts,
        }
    }

    pub fn number(&self) -> u64 {
        quantity(&self.block["number"]).unwrap()
    }

    fn answer(&self, call: &Value) -> Value {
        let id = call["id"].clone();
        let params = &call["params"];
        let is_ours =
            |p: &Value| p.as_str().is_some_and(|s| !s.starts_with("0x")) || quantity(p) == Some(self.number());
        let result = match call["method"].as_str().unwrap_or_default() {
            "eth_chainId" => json!(format!("{:#x}", self.chain_id)),
            "eth_blockNumber" => json!(format!("{:#x}", self.number())),
            "eth_getBlockByNumber" if is_ours(&params[0]) => {
                let mut block = self.block.clone();
                if params[1] == json!(false) {
                    let hashes: Vec<Value> = block["transactions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t["hash"].clone())
                        .collect();
                    block["transactions"] = Value::Array(hashes);
                }
                block
            }
            "eth_getBlockReceipts" if is_ours(&params[0]) => match &self.receipts {
                Some(r) => Value::Array(r.clone()),
                None => {
                    return json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "the method eth_getBlockReceipts does not exist/is not available"}})
                }
            },
            "eth_getTransactionReceipt" => self
                .receipts
                .iter()
                .flatten()
                .find(|r| r["transactionHash"] == params[0])
                .cloned()
                .unwrap_or(Value::Null),
            _ => Value::Null,
        };
        json!({"jsonrpc": "2.0", "id": id, "result": result})
    }

    pub fn handler(self: Arc<Self>) -> Handler {
        handler(move |request: Value| {
            let node = self.clone();
            async move {
                match request {
                    Value::Array(calls) => Reply::Json(Value::Array(calls.iter().map(|c| node.answer(c)).collect())),
                    call => Reply::Json(node.answer(&call)),
                }
            }
        })
    }
}

/// A landed row: column -> value text, `None` for null (as the batch tests read the lake).
pub type Row = BTreeMap<String, Option<String>>;

/// Which object of the node's a row's fields came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Block,
    Transaction,
    Receipt,
}

/// Fields whose value lands elsewhere, or is derived: (object, node name) -> why not compared.
const ELSEWHERE: &[(Object, &str, &str)] = &[
    (Object::Block, "transactions", "counted in transaction_count"),
    (Object::Block, "withdrawals", "compared by count"),
    (Object::Receipt, "logs", "rows of the logs table"),
    (Object::Receipt, "logsBloom", "derived from the logs"),
];

/// The column a node's field lands in, when chainx has one for it.
fn column_of(object: Object, key: &str) -> String {
    if object == Object::Block {
        return snake_case(key);
    }
    // Transaction fields keep ethereum-etl's names; a receipt's repeat the transaction's.
    let shared = match key {
        "transactionHash" | "hash" => "hash",
        "from" => "from_address",
        "to" => "to_address",
        "type" => "transaction_type",
        "blockHash" => "block_hash",
        "blockNumber" => "block_number",
        "transactionIndex" => "transaction_index",
        "blockTimestamp" => "block_timestamp",
        _ if object == Object::Receipt => return format!("receipt_{}", snake_case(key)),
        _ => return snake_case(key),
    };
    shared.to_string()
}

fn snake_case(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

/// A node's value and a landed cell hold the same thing: equal text, the same number (hex
/// quantity against decimal), or the same JSON (lists).
fn same(node: &Value, landed: Option<&str>) -> bool {
    match (node, landed) {
        (Value::Null, None) => true,
        (Value::Null, Some(_)) | (_, None) => false,
        (Value::Bool(b), Some(t)) => b.to_string() == t,
        (Value::String(s), Some(t)) => {
            if s.eq_ignore_ascii_case(t) {
                return true;
            }
            // A quantity: compared as a number of any size, exactly.
            match (s.strip_prefix("0x"), t.bytes().all(|b| b.is_ascii_digit())) {
                (Some(hex), true) if !t.is_empty() => hex_to_decimal(hex).is_some_and(|d| d == t),
                _ => false,
            }
        }
        (other, Some(t)) => serde_json::from_str::<Value>(t).ok().as_ref() == Some(other),
    }
}

/// Hex digits as decimal text, by long division (values may pass 128 bits).
fn hex_to_decimal(hex: &str) -> Option<String> {
    let mut digits: Vec<u8> = vec![0];
    for c in hex.chars() {
        let mut carry = c.to_digit(16)?;
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 16 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    Some(digits.iter().rev().map(|d| char::from(b'0' + d)).collect())
}

/// Checks that every field of `node` (one block, transaction or receipt object) landed in `row`:
/// in its column with the same value, or in the row's `extra` exactly as the node sent it.
/// Returns how many fields were compared; panics naming the first that did not land.
pub fn assert_every_field_landed(what: &str, object: Object, node: &Value, row: &Row) -> usize {
    let extra: Value = row
        .get("extra")
        .cloned()
        .flatten()
        .map_or(json!({}), |t| serde_json::from_str(&t).unwrap());
    let mut compared = 0;
    for (key, value) in node.as_object().unwrap() {
        if ELSEWHERE.iter().any(|(o, k, _)| *o == object && k == key) {
            continue;
        }
        let column = column_of(object, key);
        match row.get(&column) {
            Some(landed) => assert!(
                same(value, landed.as_deref()),
                "{what}: `{key}` = {value} landed in `{column}` as {landed:?}"
            ),
            None => {
                let kept = &extra[column.as_str()];
                assert!(
                    kept == value,
                    "{what}: `{key}` = {value} has no column `{column}` and is not in extra ({extra})"
                );
            }
        }
        compared += 1;
    }
    compared
}

/// A row as the test reads it, from a row's JSON (a message or `serde_json::to_value` of a row).
pub fn row_of_json(v: &Value) -> Row {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            (k.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_exactly_past_128_bits() {
        assert_eq!(hex_to_decimal("0").unwrap(), "0");
        assert_eq!(hex_to_decimal("ff").unwrap(), "255");
        let big = format!("1{}", "0".repeat(40));
        assert_eq!(
            hex_to_decimal(&big).unwrap(),
            "1461501637330902918203684832716283019655932542976"
        );
        assert!(same(&json!("0x10"), Some("16")));
        assert!(!same(&json!("0x10"), Some("17")));
        assert!(!same(&json!(null), Some("0")));
        assert!(same(&json!(["0xaa"]), Some(r#"["0xaa"]"#)));
    }
}
