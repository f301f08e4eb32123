//! anvil loaded with the fixture chain: `scripts/chain.sh` builds it once (cached), links it at
//! `.chain/`, and each test starts its own node from the dump in about two seconds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::{free_port, workspace_root};

#[derive(Debug, Clone, Deserialize)]
pub struct TxKinds {
    pub native_token_transfer: u64,
    pub contract_deployment: u64,
    pub contract_interaction: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DateCounts {
    pub blocks: u64,
    pub transactions: u64,
}

/// `.chain/manifest.json`: the counts the generator built the chain with.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub first_block: u64,
    pub last_block: u64,
    pub block_count: u64,
    pub transaction_count: u64,
    pub tx_kind: TxKinds,
    pub transaction_type: BTreeMap<String, u64>,
    pub receipt_status_failed: u64,
    pub native_to_contract_empty_input: u64,
    pub by_date: BTreeMap<String, DateCounts>,
    pub last_block_hash: String,
    pub contracts: BTreeMap<String, String>,
    /// Every log of the chain (reverted transactions have none).
    pub logs: u64,
    /// Logs per event signature, decoded by the generator with the contracts' own ABIs.
    pub events: BTreeMap<String, u64>,
    /// Logs of the anonymous event, which no decoder can name.
    pub anonymous_logs: u64,
    /// Token transfer rows per standard (an ERC-1155 batch counts its ids).
    pub token_transfers: BTreeMap<String, u64>,
    pub swaps_by_pair: BTreeMap<String, u64>,
    pub liquidations_by_collateral: BTreeMap<String, u64>,
}

/// The fixture contracts whose functions the decoder's built-in signatures lack, with their
/// ABI file under `.chain/abi/`.
const FOLDER_ABIS: &[(&str, &str)] = &[
    ("router", "UniswapV2Router02"),
    ("pair_ab", "UniswapV2Pair"),
    ("pair_weth_a", "UniswapV2Pair"),
    ("collectible", "Collectible"),
    ("multi_token", "MultiToken"),
    ("beacon", "Beacon"),
];

/// Fills `dir` with `<address>.json` ABIs of the fixture contracts the built-ins do not cover
/// (an ABI folder for `--abi-dir`); returns their addresses.
pub fn write_abi_folder(dir: &std::path::Path) -> Vec<String> {
    let m = manifest();
    FOLDER_ABIS
        .iter()
        .map(|(key, file)| {
            let address = m.contracts[*key].clone();
            std::fs::copy(
                chain_dir().join(format!("abi/{file}.json")),
                dir.join(format!("{address}.json")),
            )
            .unwrap();
            address
        })
        .collect()
}

pub fn chain_dir() -> PathBuf {
    let dir = workspace_root().join(".chain");
    assert!(
        dir.join("state.json").exists(),
        "no fixture chain at {}: run `make chain` (scripts/chain.sh) first",
        dir.display()
    );
    dir
}

pub fn manifest() -> Manifest {
    let text = std::fs::read_to_string(chain_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn anvil_binary() -> PathBuf {
    if let Ok(p) = std::env::var("CHAINX_ANVIL") {
        return PathBuf::from(p);
    }
    let dir = workspace_root().join("scripts/chain/node_modules/@foundry-rs");
    let platform = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make chain` to install anvil", dir.display()))
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("anvil-"))
        .unwrap_or_else(|| panic!("no anvil platform package under {}", dir.display()));
    platform.path().join("bin/anvil")
}

/// A running anvil node; killed on drop.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    pub url: String,
}

impl Anvil {
    /// anvil with the fixture chain loaded, answering on `url` once this returns.
    pub async fn fixture() -> Anvil {
        let state = chain_dir().join("state.json");
        let port = free_port();
        let child = Command::new(anvil_binary())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--order",
                "fifo",
                "--silent",
            ])
            .arg("--load-state")
            .arg(&state)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start anvil");
        let anvil = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        anvil.wait_ready().await;
        anvil
    }

    /// Polls until the node answers (loading the dump takes a moment), at most 60 s.
    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(v) = self.rpc_with(&client, "eth_blockNumber", json!([])).await {
                if v.is_string() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "anvil did not answer on {} within 60 s",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        self.rpc_with(&reqwest::Client::new(), method, params).await.unwrap()
    }

    async fn rpc_with(&self, client: &reqwest::Client, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp = client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = resp.json().await.map_err(|e| e.to_string())?;
        if let Some(e) = v.get("error") {
            return Err(e.to_string());
        }
        Ok(v["result"].clone())
    }

    /// Mines `n` blocks past the fixture, each with one native transfer (anvil mines a block per
    /// transaction). anvil keeps state only for blocks mined since the dump was loaded, and
    /// `anvil_reorg` needs it; the transfers make a reorg's empty replacements differ in hash.
    pub async fn mine_transfers(&self, n: usize) {
        let dev = self.rpc("eth_accounts", json!([])).await;
        for _ in 0..n {
            let tx = json!({"from": dev[0], "to": dev[1], "value": "0x1"});
            self.rpc("eth_sendTransaction", json!([tx])).await;
        }
    }

    /// The logs of blocks `from..=to` from the node's `eth_getLogs`, each as
    /// `block_number/log_index/transaction_hash/address/data/topics` (topics comma-joined).
    pub async fn logs(&self, from: u64, to: u64) -> Vec<String> {
        let filter = json!({"fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}")});
        let logs = self.rpc("eth_getLogs", json!([filter])).await;
        let hex = |v: &Value| u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        logs.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let topics: Vec<&str> = l["topics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect();
                format!(
                    "{}/{}/{}/{}/{}/{}",
                    hex(&l["blockNumber"]),
                    hex(&l["logIndex"]),
                    l["transactionHash"].as_str().unwrap(),
                    l["address"].as_str().unwrap().to_lowercase(),
                    l["data"].as_str().unwrap(),
                    topics.join(",")
                )
            })
            .collect()
    }

    /// The transaction hashes of blocks `from..=to`, straight from the node.
    pub async fn tx_hashes(&self, from: u64, to: u64) -> Vec<String> {
        let mut out = Vec::new();
        for n in from..=to {
            let b = self
                .rpc("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))
                .await;
            out.extend(
                b["transactions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h.as_str().unwrap().to_string()),
            );
        }
        out
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
