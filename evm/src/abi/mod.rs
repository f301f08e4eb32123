//! Contract-call and event decoding: a transaction's `input` becomes a function name, its
//! signature and typed arguments, and a log an event's ([`events`]), with alloy's json-abi /
//! dyn-abi.
//!
//! ABIs come from three sources, tried in this order for a call to (or a log of) address A:
//! 1. the ABI folder: `<folder>/<A>.json` (a JSON ABI, or a solc/hardhat artifact with `abi`);
//! 2. an Etherscan-compatible `getabi` endpoint, asked once per address and cached on disk
//!    (never once per transaction; unverified contracts are cached as such too);
//! 3. built-in signatures of the contracts most calls go to (ERC-20, WETH, Uniswap V2 and V3
//!    routers, Aave V2 and V3 pools) and of their events, matched by selector.
//!
//! Arguments are typed JSON: integers as decimal strings (exact at any size), addresses and
//! byte strings as lowercase 0x hex, tuples as objects by component name.

mod builtin;
mod etherscan;
pub mod events;
mod json;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use alloy_dyn_abi::JsonAbiExt;
use alloy_json_abi::{Function, JsonAbi};
use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use builtin::{builtin_function, BUILTIN};
pub use etherscan::EtherscanAbis;
use events::{EventOutcome, Events};
use json::{parse_abi, to_json};

/// Why an ABI source could not be loaded; names the file or endpoint and what to do.
#[derive(Debug, thiserror::Error)]
pub enum AbiError {
    #[error("ABI folder {path}: {reason}")]
    Folder { path: PathBuf, reason: String },
    #[error("ABI file {path}: {reason} (expected a JSON ABI array, or an object with an `abi` array)")]
    File { path: PathBuf, reason: String },
    #[error("ABI cache {path}: {reason} (check that the folder is writable)")]
    Cache { path: PathBuf, reason: String },
    #[error("ABI endpoint {endpoint}: {reason}")]
    Endpoint { endpoint: String, reason: String },
}

/// Functions by selector.
#[derive(Debug, Default, Clone)]
struct Selectors(HashMap<[u8; 4], Vec<Function>>);

impl Selectors {
    fn from_functions(fs: impl IntoIterator<Item = Function>) -> Self {
        let mut map: HashMap<[u8; 4], Vec<Function>> = HashMap::new();
        for f in fs {
            let entry = map.entry(f.selector().0).or_default();
            if !entry.iter().any(|g| g.signature() == f.signature()) {
                entry.push(f);
            }
        }
        Selectors(map)
    }

    fn from_abi(abi: &JsonAbi) -> Self {
        Self::from_functions(abi.functions().cloned())
    }
}

/// Where the ABI of a decoded call came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbiSource {
    Folder,
    Etherscan,
    Builtin,
}

impl AbiSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AbiSource::Folder => "folder",
            AbiSource::Etherscan => "etherscan",
            AbiSource::Builtin => "builtin",
        }
    }
}

/// How decoding went; failures keep the message and say why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeStatus {
    /// Decoded: `function_name`, `signature` and `args` are set.
    Ok,
    /// Input shorter than a 4-byte selector.
    NoSelector,
    /// No ABI known to us has this selector.
    UnknownSelector,
    /// A function with this selector exists, but the arguments do not decode as its types.
    BadArguments,
}

impl DecodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeStatus::Ok => "ok",
            DecodeStatus::NoSelector => "no_selector",
            DecodeStatus::UnknownSelector => "unknown_selector",
            DecodeStatus::BadArguments => "bad_arguments",
        }
    }
}

/// One decoded argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodedArg {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub value: Value,
}

/// A decoded call (or why it is not one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodedCall {
    pub decode_status: DecodeStatus,
    /// Why decoding failed; `None` when it worked.
    pub decode_error: Option<String>,
    /// `0x` + 8 hex digits; `None` for inputs shorter than 4 bytes.
    pub selector: Option<String>,
    pub function_name: Option<String>,
    /// Canonical signature, e.g. `transfer(address,uint256)`.
    pub signature: Option<String>,
    pub args: Vec<DecodedArg>,
    pub abi_source: Option<AbiSource>,
}

impl DecodedCall {
    fn failed(status: DecodeStatus, selector: Option<String>, reason: String) -> Self {
        DecodedCall {
            decode_status: status,
            decode_error: Some(reason),
            selector,
            function_name: None,
            signature: None,
            args: Vec::new(),
            abi_source: None,
        }
    }
}

/// One contract's ABI: its functions and events, and where it came from.
#[derive(Debug)]
struct ContractAbi {
    functions: Selectors,
    events: Events,
    source: AbiSource,
}

impl ContractAbi {
    fn new(abi: &JsonAbi, source: AbiSource) -> Self {
        ContractAbi {
            functions: Selectors::from_abi(abi),
            events: Events::from_abi(abi),
            source,
        }
    }
}

/// ABIs per address (folder, then Etherscan) and built-in signatures.
#[derive(Debug)]
pub struct AbiRegistry {
    by_address: HashMap<Address, ContractAbi>,
    builtin: Selectors,
    builtin_events: Events,
    etherscan: Option<EtherscanAbis>,
}

impl AbiRegistry {
    /// Built-in signatures only.
    pub fn builtin() -> Self {
        let fs = BUILTIN.iter().filter_map(|s| match builtin_function(s) {
            Ok(f) => Some(f),
            Err(e) => {
                // A typo in the table above: a unit test parses every line, so this is unreachable.
                tracing::error!("built-in signature {s:?} does not parse: {e}");
                None
            }
        });
        AbiRegistry {
            by_address: HashMap::new(),
            builtin: Selectors::from_functions(fs),
            builtin_events: Events::builtin(),
            etherscan: None,
        }
    }

    /// Adds every `<address>.json` of `folder`. A file that is not a valid ABI is an error that
    /// names it: a typo must not silently turn into undecoded calls.
    pub fn with_folder(mut self, folder: &Path) -> Result<Self, AbiError> {
        let entries = std::fs::read_dir(folder).map_err(|e| AbiError::Folder {
            path: folder.to_path_buf(),
            reason: format!("{e} (pass an existing folder of <address>.json files)"),
        })?;
        for entry in entries {
            let path = entry
                .map_err(|e| AbiError::Folder {
                    path: folder.to_path_buf(),
                    reason: e.to_string(),
                })?
                .path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let address: Address = stem.parse().map_err(|_| AbiError::File {
                path: path.clone(),
                reason: "the file name is not a contract address (name it <0xaddress>.json)".to_string(),
            })?;
            let text = std::fs::read_to_string(&path).map_err(|e| AbiError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let abi = parse_abi(&text).map_err(|reason| AbiError::File {
                path: path.clone(),
                reason,
            })?;
            self.by_address
                .insert(address, ContractAbi::new(&abi, AbiSource::Folder));
        }
        Ok(self)
    }

    pub fn with_etherscan(mut self, etherscan: EtherscanAbis) -> Self {
        self.etherscan = Some(etherscan);
        self
    }

    /// Addresses with an ABI from the folder or the endpoint's cache.
    pub fn known_addresses(&self) -> usize {
        self.by_address.len()
    }

    /// Decodes a call of `input` to `to`. Asks the Etherscan endpoint at most once per address
    /// (the answer, "not verified" included, is cached in memory and on disk).
    pub async fn decode(&mut self, to: &str, input: &str) -> DecodedCall {
        let bytes = match alloy_primitives::hex::decode(input) {
            Ok(b) => b,
            Err(e) => {
                return DecodedCall::failed(DecodeStatus::BadArguments, None, format!("input is not hex: {e}"));
            }
        };
        if bytes.len() < 4 {
            return DecodedCall::failed(
                DecodeStatus::NoSelector,
                None,
                format!("input has {} bytes, fewer than a 4-byte selector", bytes.len()),
            );
        }
        let selector: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
        let selector_hex = format!("0x{}", alloy_primitives::hex::encode(selector));
        let address: Option<Address> = to.parse().ok();
        if let Some(address) = address {
            self.look_up(address).await;
        }
        let mut tried = Vec::new();
        let sources = address
            .and_then(|a| self.by_address.get(&a))
            .map(|c| (&c.functions, c.source))
            .into_iter()
            .chain(std::iter::once((&self.builtin, AbiSource::Builtin)));
        for (selectors, source) in sources {
            for f in selectors.0.get(&selector).into_iter().flatten() {
                match f.abi_decode_input(&bytes[4..]) {
                    Ok(values) => {
                        return DecodedCall {
                            decode_status: DecodeStatus::Ok,
                            decode_error: None,
                            selector: Some(selector_hex),
                            function_name: Some(f.name.clone()),
                            signature: Some(f.signature()),
                            args: f
                                .inputs
                                .iter()
                                .zip(values)
                                .enumerate()
                                .map(|(i, (p, v))| DecodedArg {
                                    name: if p.name.is_empty() {
                                        format!("arg{i}")
                                    } else {
                                        p.name.clone()
                                    },
                                    ty: p.selector_type().into_owned(),
                                    value: to_json(&v, Some(p)),
                                })
                                .collect(),
                            abi_source: Some(source),
                        };
                    }
                    Err(e) => tried.push(format!("{}: {e}", f.signature())),
                }
            }
        }
        if tried.is_empty() {
            DecodedCall::failed(
                DecodeStatus::UnknownSelector,
                Some(selector_hex.clone()),
                format!("no known ABI has selector {selector_hex} (add <address>.json to the ABI folder)"),
            )
        } else {
            DecodedCall::failed(DecodeStatus::BadArguments, Some(selector_hex), tried.join("; "))
        }
    }

    /// Asks the Etherscan endpoint for `address`'s ABI unless it is known or was asked.
    async fn look_up(&mut self, address: Address) {
        if let Some(etherscan) = self.etherscan.as_mut() {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.by_address.entry(address) {
                if let Some(abi) = etherscan.abi(address).await {
                    slot.insert(ContractAbi::new(&abi, AbiSource::Etherscan));
                }
            }
        }
    }

    /// Decodes a log of `address`: by the contract's own ABI when it has one with the log's
    /// selector, else by the built-in events. Returns the ABI's source with a decoded event.
    pub async fn decode_log(
        &mut self,
        address: Address,
        topics: &[B256],
        data: &[u8],
    ) -> (EventOutcome, Option<AbiSource>) {
        let Some(selector) = topics.first() else {
            return (EventOutcome::Unknown, None);
        };
        if !self.builtin_events.knows(selector) {
            self.look_up(address).await;
        }
        let own = self.by_address.get(&address).map(|c| (&c.events, c.source));
        let mut outcome = EventOutcome::Unknown;
        for (events, source) in own
            .into_iter()
            .chain(std::iter::once((&self.builtin_events, AbiSource::Builtin)))
        {
            match events.decode(topics, data) {
                Some(EventOutcome::Decoded(e)) => return (EventOutcome::Decoded(e), Some(source)),
                // The contract's ABI knows the selector but not this layout: the built-ins may.
                Some(failed) => outcome = failed,
                None => {}
            }
        }
        (outcome, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_dyn_abi::DynSolValue;
    use alloy_primitives::U256;
    use serde_json::json;

    #[test]
    fn every_builtin_signature_parses() {
        for s in BUILTIN {
            builtin_function(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        let f = builtin_function(BUILTIN.iter().find(|s| s.contains("exactInput(")).unwrap()).unwrap();
        // Uniswap V3 SwapRouter's exactInput selector.
        assert_eq!(f.selector().to_string(), "0xc04b8d59");
    }

    #[tokio::test]
    async fn decodes_erc20_transfer_with_exact_amount() {
        let f = Function::parse("function transfer(address to, uint256 value)").unwrap();
        let to: Address = "0x00000000000000000000000000000000000000AB".parse().unwrap();
        let amount = U256::from(10u64).pow(U256::from(30u64)) + U256::from(7u64);
        let input = f
            .abi_encode_input(&[DynSolValue::Address(to), DynSolValue::Uint(amount, 256)])
            .unwrap();
        let mut reg = AbiRegistry::builtin();
        let d = reg
            .decode(
                "0x1111111111111111111111111111111111111111",
                &format!("0x{}", alloy_primitives::hex::encode(&input)),
            )
            .await;
        assert_eq!(d.decode_status, DecodeStatus::Ok, "{d:?}");
        assert_eq!(d.signature.as_deref(), Some("transfer(address,uint256)"));
        assert_eq!(d.selector.as_deref(), Some("0xa9059cbb"));
        assert_eq!(d.args[0].value, json!("0x00000000000000000000000000000000000000ab"));
        assert_eq!(d.args[1].value, json!("1000000000000000000000000000007"));
        assert_eq!(d.abi_source, Some(AbiSource::Builtin));
    }

    #[tokio::test]
    async fn tuples_decode_as_objects() {
        let f = builtin_function(BUILTIN.iter().find(|s| s.contains("exactInputSingle")).unwrap()).unwrap();
        let a: Address = "0x00000000000000000000000000000000000000aa".parse().unwrap();
        let v = DynSolValue::Tuple(vec![
            DynSolValue::Address(a),
            DynSolValue::Address(a),
            DynSolValue::Uint(U256::from(3000), 24),
            DynSolValue::Address(a),
            DynSolValue::Uint(U256::from(1), 256),
            DynSolValue::Uint(U256::from(2), 256),
            DynSolValue::Uint(U256::from(3), 256),
            DynSolValue::Uint(U256::ZERO, 160),
        ]);
        let input = f.abi_encode_input(&[v]).unwrap();
        let d = AbiRegistry::builtin()
            .decode(
                "0x1111111111111111111111111111111111111111",
                &format!("0x{}", alloy_primitives::hex::encode(&input)),
            )
            .await;
        assert_eq!(d.decode_status, DecodeStatus::Ok, "{d:?}");
        assert_eq!(d.args[0].value["fee"], json!("3000"));
        assert_eq!(d.args[0].value["amountIn"], json!("2"));
    }

    #[tokio::test]
    async fn failures_say_why() {
        let mut reg = AbiRegistry::builtin();
        let d = reg.decode("0x1111111111111111111111111111111111111111", "0x1234").await;
        assert_eq!(d.decode_status, DecodeStatus::NoSelector);
        let d = reg
            .decode("0x1111111111111111111111111111111111111111", "0xdeadbeef00")
            .await;
        assert_eq!(d.decode_status, DecodeStatus::UnknownSelector);
        assert_eq!(d.selector.as_deref(), Some("0xdeadbeef"));
        // transfer's selector with a truncated argument block
        let d = reg
            .decode("0x1111111111111111111111111111111111111111", "0xa9059cbb0000")
            .await;
        assert_eq!(d.decode_status, DecodeStatus::BadArguments);
        assert!(d.decode_error.unwrap().contains("transfer(address,uint256)"));
    }

    #[test]
    fn a_bad_abi_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0x1111111111111111111111111111111111111111.json");
        std::fs::write(&p, "{\"abi\": 3}").unwrap();
        let e = AbiRegistry::builtin().with_folder(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&p.display().to_string()) && e.contains("not a valid ABI"),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();
        std::fs::write(dir.path().join("router.json"), "[]").unwrap();
        let e = AbiRegistry::builtin().with_folder(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a contract address"), "{e}");
    }
}
