//! `contracts` rows, as ethereum-etl and BigQuery's `crypto_ethereum.contracts`: one per
//! successful create trace, top-level deployments and contracts made by contracts (factory
//! pairs) alike, with the bytecode the create returned (no call of its own).

use alloy_primitives::keccak256;
use serde::{Deserialize, Serialize};

use crate::traces::TraceRow;

/// One row of `contracts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractRow {
    pub address: String,
    pub bytecode: String,
    /// The 4-byte selectors the code dispatches on, sorted.
    pub function_sighashes: Vec<String>,
    pub is_erc20: bool,
    pub is_erc721: bool,
    /// The implementation an EIP-1167 minimal proxy forwards every call to.
    pub proxy_implementation: Option<String>,
    /// What created it: the transaction and the create's place in its traces.
    pub transaction_hash: Option<String>,
    pub trace_address: Option<String>,
    pub block_timestamp: u64,
    pub block_number: u64,
    pub block_hash: String,
}

impl ContractRow {
    /// The contract a trace created, if it is a create that succeeded and returned code.
    pub fn from_trace(t: &TraceRow) -> Option<ContractRow> {
        Self::with_code(t).map(|(row, _)| row)
    }

    /// The row, and the code decoded once for whoever reads it further.
    fn with_code(t: &TraceRow) -> Option<(ContractRow, Vec<u8>)> {
        if t.trace_type != "create" || t.status != 1 {
            return None;
        }
        let address = t.to_address.clone()?;
        let bytecode = t.output.clone().unwrap_or_else(|| "0x".to_string());
        let code = alloy_primitives::hex::decode(&bytecode).unwrap_or_default();
        let function_sighashes = function_sighashes(&code);
        let row = ContractRow {
            address,
            is_erc20: is_erc20(&function_sighashes),
            is_erc721: is_erc721(&function_sighashes),
            proxy_implementation: minimal_proxy_target(&code),
            function_sighashes,
            bytecode,
            transaction_hash: t.transaction_hash.clone(),
            trace_address: t.trace_address.clone(),
            block_timestamp: t.block_timestamp,
            block_number: t.block_number,
            block_hash: t.block_hash.clone(),
        };
        Some((row, code))
    }
}

/// The contracts a block's traces created ([`ContractRow::from_trace`]), with each EIP-1967
/// proxy among them named by the implementation its constructor delegatecalled: OpenZeppelin's
/// `ERC1967Proxy` and `TransparentUpgradeableProxy` run their initializer that way. A proxy
/// made without an initializer call tells its implementation only in storage and an `Upgraded`
/// log, which a trace-only run does not read: its `proxy_implementation` stays null.
pub fn contracts_of(traces: &[TraceRow]) -> Vec<ContractRow> {
    traces
        .iter()
        .filter_map(|t| {
            let (mut c, code) = ContractRow::with_code(t)?;
            if c.proxy_implementation.is_none() && reads_eip1967_slot(&code) {
                c.proxy_implementation = constructor_delegatecall(traces, t, &c.address);
            }
            Some(c)
        })
        .collect()
}

/// `keccak256("eip1967.proxy.implementation") - 1`: where an EIP-1967 proxy keeps its
/// implementation, and the constant its runtime code pushes to read it.
const EIP1967_IMPLEMENTATION_SLOT: [u8; 32] =
    alloy_primitives::hex!("360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc");

/// Whether the code pushes the EIP-1967 implementation slot (`PUSH32 slot`).
fn reads_eip1967_slot(code: &[u8]) -> bool {
    code.windows(33)
        .any(|w| w[0] == PUSH32 && w[1..] == EIP1967_IMPLEMENTATION_SLOT)
}

/// The target of the first successful delegatecall that `create`'s constructor (running as
/// `address`) made directly.
fn constructor_delegatecall(traces: &[TraceRow], create: &TraceRow, address: &str) -> Option<String> {
    let prefix = create.trace_address.as_ref().map(|p| format!("{p},"));
    traces
        .iter()
        .find(|t| {
            let child = match (&prefix, &t.trace_address) {
                (None, Some(path)) => !path.contains(','),
                (Some(prefix), Some(path)) => path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| !rest.contains(',')),
                (_, None) => false,
            };
            child
                && t.transaction_hash == create.transaction_hash
                && t.call_type.as_deref() == Some("delegatecall")
                && t.from_address.as_deref() == Some(address)
                && t.status == 1
        })
        .and_then(|t| t.to_address.clone())
}

const PUSH1: u8 = 0x60;
const PUSH4: u8 = 0x63;
const PUSH32: u8 = 0x7f;
const JUMPDEST: u8 = 0x5b;

const EQ: u8 = 0x14;

/// The 4-byte selectors the code dispatches on: the operands of the `PUSH4`s before its first
/// `JUMPDEST`, which is what ethereum-etl reads (its disassembler's first basic block), plus
/// every `PUSH4` compared by the next instruction (`PUSH4 s EQ`), which is how solc dispatches
/// in the blocks after the first when it splits a contract's functions into a binary search
/// (any contract of more than a few functions since 0.5): ethereum-etl's reading alone sees
/// none of a modern ERC-20's transfer functions.
pub fn function_sighashes(code: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut first_block = true;
    while i < code.len() {
        let op = code[i];
        first_block &= op != JUMPDEST;
        if (PUSH1..=PUSH32).contains(&op) {
            let n = (op - PUSH1 + 1) as usize;
            if op == PUSH4 && i + 1 + n <= code.len() && (first_block || code.get(i + 1 + n) == Some(&EQ)) {
                out.push(format!("0x{}", alloy_primitives::hex::encode(&code[i + 1..i + 1 + n])));
            }
            i += n;
        }
        i += 1;
    }
    out.sort();
    out.dedup();
    out
}

fn selector(signature: &str) -> String {
    format!("0x{}", alloy_primitives::hex::encode(&keccak256(signature)[..4]))
}

fn has(sighashes: &[String], signature: &str) -> bool {
    sighashes.binary_search(&selector(signature)).is_ok()
}

/// EIP-20's functions, as ethereum-etl checks them.
pub fn is_erc20(sighashes: &[String]) -> bool {
    [
        "totalSupply()",
        "balanceOf(address)",
        "transfer(address,uint256)",
        "transferFrom(address,address,uint256)",
        "approve(address,uint256)",
        "allowance(address,address)",
    ]
    .iter()
    .all(|s| has(sighashes, s))
}

/// EIP-721's core functions, as ethereum-etl checks them (loose enough for CryptoKitties).
pub fn is_erc721(sighashes: &[String]) -> bool {
    has(sighashes, "balanceOf(address)")
        && has(sighashes, "ownerOf(uint256)")
        && (has(sighashes, "transfer(address,uint256)") || has(sighashes, "transferFrom(address,address,uint256)"))
        && has(sighashes, "approve(address,uint256)")
}

/// The target of an EIP-1167 minimal proxy's runtime code.
fn minimal_proxy_target(code: &[u8]) -> Option<String> {
    const HEAD: [u8; 10] = [0x36, 0x3d, 0x3d, 0x37, 0x3d, 0x3d, 0x3d, 0x36, 0x3d, 0x73];
    const TAIL: [u8; 15] = [
        0x5a, 0xf4, 0x3d, 0x82, 0x80, 0x3e, 0x90, 0x3d, 0x91, 0x60, 0x2b, 0x57, 0xfd, 0x5b, 0xf3,
    ];
    (code.len() == HEAD.len() + 20 + TAIL.len() && code.starts_with(&HEAD) && code.ends_with(&TAIL)).then(|| {
        format!(
            "0x{}",
            alloy_primitives::hex::encode(&code[HEAD.len()..HEAD.len() + 20])
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sighashes_are_the_first_blocks_push4s_and_later_compared_ones() {
        // PUSH4 a; PUSH2 0x6301 (data holding a PUSH4 opcode); PUSH4 b; JUMPDEST; PUSH4 c;
        // PUSH4 d EQ
        let code = [
            0x63, 0xa9, 0x05, 0x9c, 0xbb, 0x61, 0x63, 0x01, 0x63, 0x09, 0x5e, 0xa7, 0xb3, 0x5b, 0x63, 1, 2, 3, 4, 0x63,
            0x18, 0x16, 0x0d, 0xdd, 0x14,
        ];
        assert_eq!(
            function_sighashes(&code),
            vec!["0x095ea7b3", "0x18160ddd", "0xa9059cbb"]
        );
        // A PUSH4 cut off by the end of the code is not a selector.
        assert!(function_sighashes(&[0x63, 1, 2]).is_empty());
    }

    #[test]
    fn selectors_are_keccak_prefixes() {
        assert_eq!(selector("transfer(address,uint256)"), "0xa9059cbb");
        assert_eq!(selector("totalSupply()"), "0x18160ddd");
    }

    #[test]
    fn an_eip1967_proxy_names_what_its_constructor_delegatecalled() {
        let mut code = vec![0x60, 0x80, PUSH32];
        code.extend(EIP1967_IMPLEMENTATION_SLOT);
        code.push(0x54); // SLOAD
        let trace = |path: Option<&str>, kind: &str, from: &str, to: &str| TraceRow {
            transaction_hash: Some("0xt".into()),
            trace_address: path.map(str::to_string),
            trace_type: kind.into(),
            call_type: (kind == "call").then(|| "delegatecall".to_string()),
            from_address: Some(from.into()),
            to_address: Some(to.into()),
            status: 1,
            ..TraceRow::default()
        };
        let mut create = trace(Some("0"), "create", "0xfactory", "0xproxy");
        create.output = Some(format!("0x{}", alloy_primitives::hex::encode(&code)));
        let traces = vec![
            trace(None, "call", "0xeoa", "0xfactory"),
            create.clone(),
            // A grandchild's delegatecall is not the constructor's own.
            trace(Some("0,0,0"), "call", "0xproxy", "0xdeeper"),
            trace(Some("0,0"), "call", "0xproxy", "0ximpl"),
            trace(Some("1"), "call", "0xproxy", "0xlater"),
        ];
        let contracts = contracts_of(&traces);
        assert_eq!(contracts.len(), 1);
        assert_eq!(contracts[0].proxy_implementation.as_deref(), Some("0ximpl"));
        // Without the slot in its code, a contract's constructor delegatecalls name nothing.
        create.output = Some("0x6080".into());
        let plain = [traces[0].clone(), create, traces[3].clone()];
        assert_eq!(contracts_of(&plain)[0].proxy_implementation, None);
    }

    #[test]
    fn a_minimal_proxy_names_its_implementation() {
        let target = "bebebebebebebebebebebebebebebebebebebebe";
        let code = alloy_primitives::hex::decode(format!("363d3d373d3d3d363d73{target}5af43d82803e903d91602b57fd5bf3"))
            .unwrap();
        assert_eq!(minimal_proxy_target(&code), Some(format!("0x{target}")));
        assert_eq!(minimal_proxy_target(&code[1..]), None);
    }
}
