//! Event decoding: a log's topics and data become the event's name, its canonical signature and
//! named arguments, with the ABIs the call decoder uses plus built-in events.
//!
//! A log is matched by its first topic (the event selector). Several events share a selector
//! when they differ only in which arguments are indexed (ERC-20's and ERC-721's `Transfer`), so
//! each candidate is tried and the first whose topic count and data decode wins. Anonymous events
//! have no selector topic and cannot be matched: they stay undecoded, like logs no ABI knows.

use std::collections::HashMap;

use alloy_dyn_abi::EventExt;
use alloy_json_abi::{Event, JsonAbi};
use alloy_primitives::B256;
use serde_json::{Map, Value};

use super::json::to_json;

/// The events built in, for the protocols the original design watches. Several share a name
/// (and a selector) with another's differently indexed form.
pub(super) const BUILTIN_EVENTS: &[&str] = &[
    // ERC-20 (and WETH), ERC-721: the same selector, told apart by the number of topics. The last
    // form is the early tokens' Transfer with nothing indexed.
    "event Transfer(address indexed from, address indexed to, uint256 value)",
    "event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)",
    "event Transfer(address from, address to, uint256 value)",
    "event Approval(address indexed owner, address indexed spender, uint256 value)",
    "event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId)",
    "event ApprovalForAll(address indexed owner, address indexed operator, bool approved)",
    // ERC-1155
    "event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)",
    "event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values)",
    "event URI(string value, uint256 indexed id)",
    // WETH9
    "event Deposit(address indexed dst, uint256 wad)",
    "event Withdrawal(address indexed src, uint256 wad)",
    // Uniswap V2 pair and factory
    "event Swap(address indexed sender, uint256 amount0In, uint256 amount1In, uint256 amount0Out, uint256 amount1Out, address indexed to)",
    "event Mint(address indexed sender, uint256 amount0, uint256 amount1)",
    "event Burn(address indexed sender, uint256 amount0, uint256 amount1, address indexed to)",
    "event Sync(uint112 reserve0, uint112 reserve1)",
    "event PairCreated(address indexed token0, address indexed token1, address pair, uint256 allPairsLength)",
    // Uniswap V3 pool and factory
    "event Swap(address indexed sender, address indexed recipient, int256 amount0, int256 amount1, uint160 sqrtPriceX96, uint128 liquidity, int24 tick)",
    "event Mint(address sender, address indexed owner, int24 indexed tickLower, int24 indexed tickUpper, uint128 amount, uint256 amount0, uint256 amount1)",
    "event Burn(address indexed owner, int24 indexed tickLower, int24 indexed tickUpper, uint128 amount, uint256 amount0, uint256 amount1)",
    "event Collect(address indexed owner, address recipient, int24 indexed tickLower, int24 indexed tickUpper, uint128 amount0, uint128 amount1)",
    "event Flash(address indexed sender, address indexed recipient, uint256 amount0, uint256 amount1, uint256 paid0, uint256 paid1)",
    "event Initialize(uint160 sqrtPriceX96, int24 tick)",
    "event PoolCreated(address indexed token0, address indexed token1, uint24 indexed fee, int24 tickSpacing, address pool)",
    // Aave V2 LendingPool
    "event Deposit(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referral)",
    "event Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount)",
    "event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint256 borrowRateMode, uint256 borrowRate, uint16 indexed referral)",
    "event Repay(address indexed reserve, address indexed user, address indexed repayer, uint256 amount)",
    "event FlashLoan(address indexed target, address indexed initiator, address indexed asset, uint256 amount, uint256 premium, uint16 referralCode)",
    // Aave V2 and V3 (the same signature in both)
    "event LiquidationCall(address indexed collateralAsset, address indexed debtAsset, address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator, bool receiveAToken)",
    // Aave V3 Pool
    "event Supply(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referralCode)",
    "event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode)",
    "event Repay(address indexed reserve, address indexed user, address indexed repayer, uint256 amount, bool useATokens)",
    "event FlashLoan(address indexed target, address initiator, address indexed asset, uint256 amount, uint8 interestRateMode, uint256 premium, uint16 indexed referralCode)",
];

/// One decoded event: what `decoded_events` holds besides the log's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    pub event_name: String,
    /// Canonical signature, e.g. `Swap(address,uint256,uint256,uint256,uint256,address)`.
    pub event_signature: String,
    /// The arguments by name (`arg{i}` when unnamed), integers as decimal strings.
    pub args: Map<String, Value>,
}

/// How a log fared.
#[derive(Debug, Clone, PartialEq)]
pub enum EventOutcome {
    Decoded(DecodedEvent),
    /// No topics, or no known event has its selector (anonymous events land here too).
    Unknown,
    /// An event with the selector is known, but the topics or data do not decode as it.
    Undecodable(String),
}

/// Non-anonymous events by selector.
#[derive(Debug, Default, Clone)]
pub(super) struct Events(HashMap<B256, Vec<Event>>);

impl Events {
    pub(super) fn from_events(events: impl IntoIterator<Item = Event>) -> Self {
        let mut map: HashMap<B256, Vec<Event>> = HashMap::new();
        for e in events.into_iter().filter(|e| !e.anonymous) {
            let entry = map.entry(e.selector()).or_default();
            if !entry.iter().any(|f| f.full_signature() == e.full_signature()) {
                entry.push(e);
            }
        }
        Events(map)
    }

    pub(super) fn from_abi(abi: &JsonAbi) -> Self {
        Self::from_events(abi.events().cloned())
    }

    pub(super) fn builtin() -> Self {
        Self::from_events(BUILTIN_EVENTS.iter().filter_map(|s| match Event::parse(s) {
            Ok(e) => Some(e),
            Err(e) => {
                // A typo in the table above: a unit test parses every line, so this is unreachable.
                tracing::error!("built-in event {s:?} does not parse: {e}");
                None
            }
        }))
    }

    pub(super) fn knows(&self, selector: &B256) -> bool {
        self.0.contains_key(selector)
    }

    /// Decodes a log whose selector is `topics[0]`; `None` if no event here has that selector.
    pub(super) fn decode(&self, topics: &[B256], data: &[u8]) -> Option<EventOutcome> {
        let candidates = self.0.get(topics.first()?)?;
        let mut tried = Vec::new();
        for event in candidates {
            match event.decode_log_parts(topics.iter().copied(), data) {
                Ok(decoded) => return Some(EventOutcome::Decoded(named(event, decoded))),
                Err(e) => tried.push(format!("{}: {e}", event.full_signature())),
            }
        }
        Some(EventOutcome::Undecodable(tried.join("; ")))
    }
}

/// The decoded values by input name, in the event's input order.
fn named(event: &Event, decoded: alloy_dyn_abi::DecodedEvent) -> DecodedEvent {
    let mut indexed = decoded.indexed.into_iter();
    let mut body = decoded.body.into_iter();
    let mut args = Map::new();
    for (i, input) in event.inputs.iter().enumerate() {
        let value = if input.indexed { indexed.next() } else { body.next() };
        let name = if input.name.is_empty() {
            format!("arg{i}")
        } else {
            input.name.clone()
        };
        let param = alloy_json_abi::Param {
            ty: input.ty.clone(),
            name: input.name.clone(),
            components: input.components.clone(),
            internal_type: input.internal_type.clone(),
        };
        args.insert(name, value.map_or(Value::Null, |v| to_json(&v, Some(&param))));
    }
    DecodedEvent {
        event_name: event.name.clone(),
        event_signature: event.signature(),
        args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{keccak256, U256};

    fn word(v: U256) -> B256 {
        B256::from(v.to_be_bytes::<32>())
    }

    #[test]
    fn every_builtin_event_parses() {
        for s in BUILTIN_EVENTS {
            Event::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    #[test]
    fn transfer_forms_are_told_apart_by_topic_count() {
        let events = Events::builtin();
        let selector = keccak256("Transfer(address,address,uint256)");
        let from = word(U256::from(0xaa));
        let to = word(U256::from(0xbb));
        let big = (U256::from(1u8) << 255usize) + U256::from(3u8);
        // ERC-20: the amount in data, exact past 128 bits.
        let Some(EventOutcome::Decoded(e)) = events.decode(&[selector, from, to], word(big).as_slice()) else {
            panic!("ERC-20 Transfer not decoded");
        };
        assert_eq!(e.args["value"], Value::String(big.to_string()));
        assert_eq!(e.args["from"], Value::String(format!("0x{:040x}", 0xaa)));
        // ERC-721: the id is the third topic, no data.
        let Some(EventOutcome::Decoded(e)) = events.decode(&[selector, from, to, word(U256::from(7))], &[]) else {
            panic!("ERC-721 Transfer not decoded");
        };
        assert_eq!(e.args["tokenId"], Value::String("7".into()));
        // Nothing indexed: all three words in data.
        let data = [from, to, word(U256::from(9))].concat();
        let Some(EventOutcome::Decoded(e)) = events.decode(&[selector], &data) else {
            panic!("unindexed Transfer not decoded");
        };
        assert_eq!(e.args["value"], Value::String("9".into()));
        // Two topics fit no form.
        let Some(EventOutcome::Undecodable(why)) = events.decode(&[selector, from], &[]) else {
            panic!("a two-topic Transfer decoded");
        };
        assert!(why.contains("Transfer"), "{why}");
        assert_eq!(events.decode(&[B256::repeat_byte(1)], &[]), None);
        assert_eq!(events.decode(&[], &[]), None);
    }

    #[test]
    fn uniswap_v2_swap_has_its_canonical_signature() {
        let events = Events::builtin();
        let sig = "Swap(address,uint256,uint256,uint256,uint256,address)";
        let data = [1u64, 0, 0, 5].map(|v| word(U256::from(v))).concat();
        let Some(EventOutcome::Decoded(e)) =
            events.decode(&[keccak256(sig), word(U256::from(1)), word(U256::from(2))], &data)
        else {
            panic!("Swap not decoded");
        };
        assert_eq!(e.event_signature, sig);
        assert_eq!(e.args["amount1Out"], Value::String("5".into()));
    }
}
