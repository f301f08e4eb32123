//! Contract-call decoding: a transaction's `input` becomes a function name, its signature and
//! typed arguments, with alloy's json-abi / dyn-abi.
//!
//! ABIs come from three sources, tried in this order for a call to address A:
//! 1. the ABI folder: `<folder>/<A>.json` (a JSON ABI, or a solc/hardhat artifact with `abi`);
//! 2. an Etherscan-compatible `getabi` endpoint, asked once per address and cached on disk
//!    (never once per transaction; unverified contracts are cached as such too);
//! 3. built-in signatures of the contracts most calls go to (ERC-20, WETH, Uniswap V2 and V3
//!    routers, Aave V2 and V3 pools), matched by selector.
//!
//! Arguments are typed JSON: integers as decimal strings (exact at any size), addresses and
//! byte strings as lowercase 0x hex, tuples as objects by component name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_dyn_abi::{DynSolValue, JsonAbiExt};
use alloy_json_abi::{Function, JsonAbi, Param};
use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::redact::redact_url;

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

/// The signatures built in, for contracts whose ABI nobody supplied.
const BUILTIN: &[&str] = &[
    // ERC-20 (and WETH, which is one)
    "function transfer(address to, uint256 value) returns (bool)",
    "function transferFrom(address from, address to, uint256 value) returns (bool)",
    "function approve(address spender, uint256 value) returns (bool)",
    "function increaseAllowance(address spender, uint256 addedValue) returns (bool)",
    "function decreaseAllowance(address spender, uint256 subtractedValue) returns (bool)",
    // WETH9
    "function deposit()",
    "function withdraw(uint256 wad)",
    // Uniswap V2 Router02
    "function addLiquidity(address tokenA, address tokenB, uint256 amountADesired, uint256 amountBDesired, uint256 amountAMin, uint256 amountBMin, address to, uint256 deadline)",
    "function addLiquidityETH(address token, uint256 amountTokenDesired, uint256 amountTokenMin, uint256 amountETHMin, address to, uint256 deadline)",
    "function removeLiquidity(address tokenA, address tokenB, uint256 liquidity, uint256 amountAMin, uint256 amountBMin, address to, uint256 deadline)",
    "function removeLiquidityETH(address token, uint256 liquidity, uint256 amountTokenMin, uint256 amountETHMin, address to, uint256 deadline)",
    "function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline)",
    "function swapExactETHForTokens(uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapTokensForExactETH(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline)",
    "function swapExactTokensForETH(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapETHForExactTokens(uint256 amountOut, address[] path, address to, uint256 deadline)",
    "function swapExactTokensForTokensSupportingFeeOnTransferTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapExactETHForTokensSupportingFeeOnTransferTokens(uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapExactTokensForETHSupportingFeeOnTransferTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    // Uniswap V3 SwapRouter (tuple component names: V3_PARAMS)
    "function exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160) params)",
    "function exactInput((bytes,address,uint256,uint256,uint256) params)",
    "function exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160) params)",
    "function exactOutput((bytes,address,uint256,uint256,uint256) params)",
    "function multicall(bytes[] data)",
    "function multicall(uint256 deadline, bytes[] data)",
    // Aave V2 LendingPool and V3 Pool (V3 keeps V2's withdraw/borrow/repay/liquidationCall)
    "function deposit(address asset, uint256 amount, address onBehalfOf, uint16 referralCode)",
    "function withdraw(address asset, uint256 amount, address to) returns (uint256)",
    "function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf)",
    "function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf) returns (uint256)",
    "function liquidationCall(address collateralAsset, address debtAsset, address user, uint256 debtToCover, bool receiveAToken)",
    "function flashLoan(address receiverAddress, address[] assets, uint256[] amounts, uint256[] interestRateModes, address onBehalfOf, bytes params, uint16 referralCode)",
    "function setUserUseReserveAsCollateral(address asset, bool useAsCollateral)",
    "function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode)",
    "function repayWithATokens(address asset, uint256 amount, uint256 interestRateMode) returns (uint256)",
    "function flashLoanSimple(address receiverAddress, address asset, uint256 amount, bytes params, uint16 referralCode)",
];

/// Names of the tuple components of Uniswap V3's `params` (the human-readable signature
/// parser takes only unnamed tuple components).
const V3_PARAMS: &[(&str, &[&str])] = &[
    (
        "exactInputSingle",
        &[
            "tokenIn",
            "tokenOut",
            "fee",
            "recipient",
            "deadline",
            "amountIn",
            "amountOutMinimum",
            "sqrtPriceLimitX96",
        ],
    ),
    (
        "exactInput",
        &["path", "recipient", "deadline", "amountIn", "amountOutMinimum"],
    ),
    (
        "exactOutputSingle",
        &[
            "tokenIn",
            "tokenOut",
            "fee",
            "recipient",
            "deadline",
            "amountOut",
            "amountInMaximum",
            "sqrtPriceLimitX96",
        ],
    ),
    (
        "exactOutput",
        &["path", "recipient", "deadline", "amountOut", "amountInMaximum"],
    ),
];

/// A built-in signature, with V3 tuple component names filled in.
fn builtin_function(signature: &str) -> Result<Function, String> {
    let mut f = Function::parse(signature).map_err(|e| e.to_string())?;
    if let Some((_, names)) = V3_PARAMS.iter().find(|(n, _)| *n == f.name) {
        if let Some(p) = f.inputs.first_mut() {
            for (c, name) in p.components.iter_mut().zip(names.iter()) {
                c.name = name.to_string();
            }
        }
    }
    Ok(f)
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

/// ABIs per address (folder, then Etherscan) and built-in signatures.
#[derive(Debug)]
pub struct AbiRegistry {
    by_address: HashMap<Address, (Selectors, AbiSource)>,
    builtin: Selectors,
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
                .insert(address, (Selectors::from_abi(&abi), AbiSource::Folder));
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
        if let (Some(address), Some(etherscan)) = (address, self.etherscan.as_mut()) {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.by_address.entry(address) {
                if let Some(abi) = etherscan.abi(address).await {
                    slot.insert((Selectors::from_abi(&abi), AbiSource::Etherscan));
                }
            }
        }
        let mut tried = Vec::new();
        let sources = address
            .and_then(|a| self.by_address.get(&a))
            .map(|(s, src)| (s, *src))
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
}

/// A JSON ABI array, or an object holding one under `abi` (solc/hardhat/foundry artifacts).
fn parse_abi(text: &str) -> Result<JsonAbi, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let abi = match value {
        Value::Object(mut o) => o.remove("abi").ok_or("an object without an `abi` field")?,
        v => v,
    };
    serde_json::from_value(abi).map_err(|e| format!("not a valid ABI: {e}"))
}

/// Typed JSON for one value; `param` names tuple components when it has them.
fn to_json(v: &DynSolValue, param: Option<&Param>) -> Value {
    match v {
        DynSolValue::Bool(b) => json!(b),
        DynSolValue::Int(i, _) => json!(i.to_string()),
        DynSolValue::Uint(u, _) => json!(u.to_string()),
        DynSolValue::Address(a) => json!(format!("{a:#x}")),
        DynSolValue::FixedBytes(w, size) => json!(format!("0x{}", alloy_primitives::hex::encode(&w[..*size]))),
        DynSolValue::Bytes(b) => json!(format!("0x{}", alloy_primitives::hex::encode(b))),
        DynSolValue::Function(f) => json!(format!("0x{}", alloy_primitives::hex::encode(f.as_slice()))),
        DynSolValue::String(s) => json!(s),
        // Array elements share the parameter's components (an array of tuples).
        DynSolValue::Array(xs) | DynSolValue::FixedArray(xs) => {
            Value::Array(xs.iter().map(|x| to_json(x, param)).collect())
        }
        DynSolValue::Tuple(xs) => {
            let components = param.map(|p| p.components.as_slice()).unwrap_or_default();
            let named = components.len() == xs.len() && components.iter().all(|c| !c.name.is_empty());
            if named {
                Value::Object(
                    components
                        .iter()
                        .zip(xs)
                        .map(|(c, x)| (c.name.clone(), to_json(x, Some(c))))
                        .collect(),
                )
            } else {
                Value::Array(
                    xs.iter()
                        .enumerate()
                        .map(|(i, x)| to_json(x, components.get(i)))
                        .collect(),
                )
            }
        }
    }
}

/// An Etherscan-compatible ABI endpoint (`?module=contract&action=getabi&address=A`), asked at
/// most once per address; answers are cached in `cache_dir` across runs.
#[derive(Debug)]
pub struct EtherscanAbis {
    endpoint: String,
    api_key: Option<String>,
    cache_dir: PathBuf,
    http: reqwest::Client,
    /// Addresses whose lookup failed for a transient reason, with when to ask again: an outage
    /// must not turn into one request per transaction.
    backoff: Mutex<HashMap<Address, Instant>>,
    requests: std::sync::atomic::AtomicU64,
}

/// How long a failed lookup waits before the same address is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(600);

impl EtherscanAbis {
    pub fn new(endpoint: &str, api_key: Option<String>, cache_dir: &Path) -> Result<Self, AbiError> {
        std::fs::create_dir_all(cache_dir).map_err(|e| AbiError::Cache {
            path: cache_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| AbiError::Endpoint {
                endpoint: redact_url(endpoint),
                reason: e.to_string(),
            })?;
        Ok(EtherscanAbis {
            endpoint: endpoint.to_string(),
            api_key,
            cache_dir: cache_dir.to_path_buf(),
            http,
            backoff: Mutex::new(HashMap::new()),
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// HTTP requests made to the endpoint so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn cache_path(&self, address: Address) -> PathBuf {
        self.cache_dir.join(format!("{address:#x}.json"))
    }

    /// The verified ABI of `address`, or `None` (unverified, or the endpoint failed).
    pub async fn abi(&self, address: Address) -> Option<JsonAbi> {
        let path = self.cache_path(address);
        if let Ok(text) = std::fs::read_to_string(&path) {
            // `null` caches "not verified".
            return parse_abi(&text).ok();
        }
        if let Ok(b) = self.backoff.lock() {
            if b.get(&address).is_some_and(|until| Instant::now() < *until) {
                return None;
            }
        }
        match self.fetch(address).await {
            Ok(abi) => {
                let text = abi
                    .as_ref()
                    .and_then(|a| serde_json::to_string(a).ok())
                    .unwrap_or_else(|| "null".to_string());
                let tmp = path.with_extension("tmp");
                if std::fs::write(&tmp, text)
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .is_err()
                {
                    tracing::warn!(path = %path.display(), "could not cache an ABI");
                }
                abi
            }
            Err(reason) => {
                tracing::warn!(address = %format!("{address:#x}"), "ABI lookup failed: {reason}");
                if let Ok(mut b) = self.backoff.lock() {
                    b.insert(address, Instant::now() + RETRY_AFTER);
                }
                None
            }
        }
    }

    async fn fetch(&self, address: Address) -> Result<Option<JsonAbi>, String> {
        self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut query = vec![
            ("module", "contract".to_string()),
            ("action", "getabi".to_string()),
            ("address", format!("{address:#x}")),
        ];
        if let Some(k) = &self.api_key {
            query.push(("apikey", k.clone()));
        }
        let scrub = |e: String| match &self.api_key {
            Some(k) if !k.is_empty() => e.replace(k.as_str(), "***"),
            _ => e,
        };
        let reply: Value = self
            .http
            .get(&self.endpoint)
            .query(&query)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| scrub(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| scrub(e.without_url().to_string()))?;
        let result = reply.get("result").and_then(Value::as_str).unwrap_or_default();
        if reply.get("status").and_then(Value::as_str) == Some("1") {
            return parse_abi(result).map(Some);
        }
        if result.contains("not verified") {
            return Ok(None);
        }
        Err(scrub(format!(
            "endpoint said {}",
            reply.get("result").unwrap_or(&reply)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

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
