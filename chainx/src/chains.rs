//! Chain presets for `--chain NAME|ID` and `chainx chains`: what a job needs to know of a chain
//! to follow it safely. The chain id is checked against the node's `eth_chainId` at every start
//! (a wrong RPC URL stops the job with both ids); the network names the Kafka topics; the reorg
//! depth bounds the clock's unwinds. Every chain listed serves the `finalized` block tag the
//! backfill stops at, and `eth_getBlockReceipts` (chainx falls back per transaction where a node
//! lacks it).

use anyhow::bail;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPreset {
    pub name: &'static str,
    pub id: u64,
    /// The topics' prefix (`--network`).
    pub network: &'static str,
    pub block_time_ms: u64,
    /// The clock's default `--max-reorg-depth`.
    pub max_reorg_depth: u64,
}

const fn preset(name: &'static str, id: u64, block_time_ms: u64, max_reorg_depth: u64) -> ChainPreset {
    ChainPreset {
        name,
        id,
        network: name,
        block_time_ms,
        max_reorg_depth,
    }
}

/// The chains chainx knows by name. Any other EVM chain works by id (`--chain 1234` checks
/// only the id) or without `--chain`.
pub const CHAINS: &[ChainPreset] = &[
    preset("mainnet", 1, 12_000, 64),
    preset("sepolia", 11_155_111, 12_000, 64),
    preset("optimism", 10, 2_000, 64),
    preset("base", 8453, 2_000, 64),
    // Four blocks a second: 64 of them are 16 s of unsafe head.
    preset("arbitrum", 42_161, 250, 256),
    // Fast finality since Plato; 0.75 s blocks since Maxwell (2025).
    preset("bsc", 56, 750, 128),
    // Polygon PoS reorganised dozens of blocks deep before its milestones (2023).
    preset("polygon", 137, 2_000, 128),
    preset("gnosis", 100, 5_000, 64),
    preset("avalanche", 43_114, 2_000, 64),
];

/// The preset `--chain` names: by name (`base`) or by id (`8453`). An id no preset has is a
/// bare check of `eth_chainId`.
pub fn find(chain: &str) -> anyhow::Result<ChainPreset> {
    let chain = chain.trim();
    if let Some(p) = CHAINS.iter().find(|p| p.name.eq_ignore_ascii_case(chain)) {
        return Ok(*p);
    }
    match chain.parse::<u64>() {
        Ok(id) => Ok(CHAINS.iter().find(|p| p.id == id).copied().unwrap_or(ChainPreset {
            name: "",
            id,
            network: "",
            block_time_ms: 0,
            max_reorg_depth: 64,
        })),
        Err(_) => {
            let names: Vec<&str> = CHAINS.iter().map(|p| p.name).collect();
            bail!(
                "--chain `{chain}`: no such chain; name one of {} or give a chain id (`chainx chains` lists them)",
                names.join(", ")
            )
        }
    }
}

/// `chainx chains`: the presets as a tab-separated table.
pub fn table() -> String {
    let mut out = String::from("name\tchain id\tnetwork\tblock time s\tmax reorg depth\n");
    for p in CHAINS {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            p.name,
            p.id,
            p.network,
            p.block_time_ms as f64 / 1000.0,
            p.max_reorg_depth
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_unique_and_found_either_way() {
        for p in CHAINS {
            assert_eq!(CHAINS.iter().filter(|q| q.id == p.id).count(), 1, "{}", p.name);
            assert_eq!(CHAINS.iter().filter(|q| q.name == p.name).count(), 1, "{}", p.name);
            assert_eq!(find(p.name).unwrap(), *p);
            assert_eq!(find(&p.id.to_string()).unwrap(), *p);
            assert_eq!(find(&p.name.to_uppercase()).unwrap(), *p);
            assert!(table().contains(&format!("{}\t{}\t", p.name, p.id)));
        }
        // An id no preset has checks the id alone.
        let bare = find("31337").unwrap();
        assert_eq!((bare.id, bare.name), (31337, ""));
        let e = find("basee").unwrap_err().to_string();
        assert!(
            e.contains("basee") && e.contains("base, arbitrum") && e.contains("chainx chains"),
            "{e}"
        );
    }
}
