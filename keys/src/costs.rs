//! What a call costs against a key's budgets. Providers meter in units of their own: Infura
//! in credits, Alchemy in compute units, both per method (a block's receipts cost more than
//! its number); a plain node or a per-call plan counts calls. A key's rps and daily budget
//! are in its provider's unit, and a request costs the sum of its calls' costs.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A provider's costs per method, and the cost of a method it does not list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCosts {
    name: String,
    default: u32,
    methods: BTreeMap<String, u32>,
}

/// A named table: its name, the cost of unlisted methods, and (method, cost) pairs.
type Preset = (&'static str, u32, &'static [(&'static str, u32)]);

/// The tables chainx knows, by name: the methods chainx calls. From the providers' published
/// tables (docs.metamask.io/services/get-started/pricing/credit-cost, Alchemy's compute-unit
/// costs), read in 2025: check them against your plan, and override any in the config.
const PRESETS: &[Preset] = &[
    ("calls", 1, &[]),
    (
        "infura",
        // Infura's rule: a method its table does not list costs 80 credits.
        80,
        &[
            ("eth_chainId", 5),
            ("eth_getLogs", 255),
            ("eth_getBlockReceipts", 1000),
            ("trace_block", 300),
            ("debug_traceBlockByNumber", 1000),
        ],
    ),
    (
        "alchemy",
        26,
        &[
            ("eth_chainId", 0),
            ("eth_blockNumber", 10),
            ("eth_getBlockByNumber", 16),
            ("eth_getBlockReceipts", 500),
            ("eth_getTransactionReceipt", 15),
            ("eth_getTransactionByHash", 17),
            ("eth_getLogs", 75),
            ("eth_getCode", 19),
            ("eth_call", 26),
            ("trace_block", 24),
            ("debug_traceBlockByNumber", 40),
        ],
    ),
];

impl CallCosts {
    /// Every call costs 1: budgets in calls, as a plain node or a per-call plan counts.
    pub fn calls() -> CallCosts {
        CallCosts {
            name: "calls".to_string(),
            default: 1,
            methods: BTreeMap::new(),
        }
    }

    /// A known table: `calls`, `infura` (credits) or `alchemy` (compute units).
    pub fn preset(name: &str) -> Result<CallCosts> {
        let (name, default, methods) = PRESETS.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
            let known: Vec<&str> = PRESETS.iter().map(|(n, _, _)| *n).collect();
            Error::Config(format!(
                "no call cost table `{name}`: use one of {} and override methods in the config",
                known.join(", ")
            ))
        })?;
        Ok(CallCosts {
            name: (*name).to_string(),
            default: *default,
            methods: methods.iter().map(|(m, c)| ((*m).to_string(), *c)).collect(),
        })
    }

    /// The table with `method` costing `cost` (a user's override); `default` sets the cost of
    /// unlisted methods.
    pub fn with(mut self, method: &str, cost: u32) -> CallCosts {
        if method == "default" {
            self.default = cost;
        } else {
            self.methods.insert(method.to_string(), cost);
        }
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether every call costs 1 (budgets in calls).
    pub fn counts_calls(&self) -> bool {
        self.default == 1 && self.methods.values().all(|c| *c == 1)
    }

    /// What a method the table does not list costs.
    pub fn unlisted(&self) -> u32 {
        self.default
    }

    pub fn of(&self, method: &str) -> u32 {
        self.methods.get(method).copied().unwrap_or(self.default)
    }

    /// What a request of these calls costs.
    pub fn total<'a>(&self, methods: impl IntoIterator<Item = &'a str>) -> u32 {
        methods.into_iter().map(|m| self.of(m)).fold(0u32, u32::saturating_add)
    }
}

impl Default for CallCosts {
    fn default() -> Self {
        CallCosts::calls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_costs_its_calls_by_method_and_overrides_win() {
        let infura = CallCosts::preset("infura").unwrap();
        assert_eq!(
            infura.total(["eth_getBlockByNumber", "eth_getBlockReceipts"]),
            80 + 1000
        );
        assert_eq!(infura.of("eth_someNewMethod"), 80);
        let mine = infura.with("eth_getBlockReceipts", 400).with("default", 50);
        assert_eq!(mine.total(["eth_getBlockByNumber", "eth_getBlockReceipts"]), 50 + 400);
        assert!(CallCosts::calls().counts_calls() && !mine.counts_calls());
        assert_eq!(CallCosts::calls().total(["a", "b", "c"]), 3);
        let e = CallCosts::preset("quicknode").unwrap_err().to_string();
        assert!(e.contains("calls, infura, alchemy"), "{e}");
    }
}
