//! `trace_block` for the mainnet-shaped chain: every transaction's top call, and the calls a
//! contract makes inside it, shaped like mainnet's (about three traces a transaction): a plain
//! transfer or a token transfer is one call, a router swap six (the pull of the input token,
//! the pair's swap and the three calls it makes), a large call four (two delegatecalls and a
//! staticcall).

use serde_json::{json, Value};

use super::{abi_words, quantity, seed, shape, MainnetShape, Shape, TXS_PER_BLOCK};

/// One call of a transaction's tree: who called whom, how, with how many argument words.
struct Call {
    from: String,
    to: String,
    kind: &'static str,
    value: u128,
    input: String,
    gas: u64,
    path: Vec<u64>,
    subtraces: u64,
}

impl Call {
    fn inner(from: &str, to: &str, kind: &'static str, words: usize, path: &[u64], subtraces: u64, gas: u64) -> Call {
        let s = seed(25, gas, path.iter().fold(0, |a, p| a * 31 + p + 1));
        Call {
            from: from.to_string(),
            to: to.to_string(),
            kind,
            value: 0,
            input: format!("0x{:08x}{}", s as u32, abi_words(s, words)),
            gas,
            path: path.to_vec(),
            subtraces,
        }
    }
}

impl MainnetShape {
    /// Block `n`'s traces, as `trace_block` lists them: transaction by transaction, each tree
    /// depth first.
    pub fn traces(&self, n: u64) -> Value {
        let mut out = Vec::new();
        for i in 0..TXS_PER_BLOCK {
            let tx = self.transaction(n, i);
            let text = |field: &str| tx[field].as_str().unwrap_or_default().to_string();
            let (from, to, gas) = (text("from"), text("to"), self.gas_used(n, i));
            let value = u128::from_str_radix(text("value").trim_start_matches("0x"), 16).unwrap_or(0);
            let s = seed(24, n, i);
            let top = |subtraces| Call {
                from: from.clone(),
                to: to.clone(),
                kind: "call",
                value,
                input: text("input"),
                gas,
                path: vec![],
                subtraces,
            };
            let calls = match shape(n, i) {
                Shape::Native | Shape::Erc20 => vec![top(0)],
                Shape::Swap => {
                    let (pair, a, b) = (self.pair(s), self.token(s), self.token(s >> 7));
                    vec![
                        top(2),
                        Call::inner(&to, &a, "call", 3, &[0], 0, gas / 4),
                        Call::inner(&to, &pair, "call", 4, &[1], 3, gas / 2),
                        Call::inner(&pair, &b, "call", 2, &[1, 0], 0, gas / 6),
                        Call::inner(&pair, &a, "staticcall", 1, &[1, 1], 0, gas / 20),
                        Call::inner(&pair, &b, "staticcall", 1, &[1, 2], 0, gas / 20),
                    ]
                }
                Shape::Large => {
                    let target = self.pair(s >> 3);
                    vec![
                        top(3),
                        Call::inner(&to, &target, "delegatecall", 20, &[0], 0, gas / 3),
                        Call::inner(&to, &target, "delegatecall", 12, &[1], 0, gas / 4),
                        Call::inner(&to, &self.token(s), "staticcall", 1, &[2], 0, gas / 20),
                    ]
                }
            };
            out.extend(calls.into_iter().map(|c| self.trace(n, i, c)));
        }
        Value::Array(out)
    }

    fn trace(&self, n: u64, i: u64, c: Call) -> Value {
        json!({
            "action": {
                "from": c.from, "to": c.to, "callType": c.kind, "value": format!("{:#x}", c.value),
                "gas": quantity(c.gas * 3 / 2), "input": c.input,
            },
            "result": {"gasUsed": quantity(c.gas), "output": format!("0x{:064x}", seed(26, n, i) >> 8)},
            "subtraces": c.subtraces,
            "traceAddress": c.path,
            "transactionHash": self.tx_hash(n, i),
            "transactionPosition": i,
            "blockHash": self.block_hash(n),
            "blockNumber": n,
            "type": "call",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_are_mainnets_shape_and_name_their_transactions() {
        let chain = MainnetShape;
        let n = 18_000_000;
        let traces = chain.traces(n);
        let traces = traces.as_array().unwrap();
        let per_tx = traces.len() as f64 / TXS_PER_BLOCK as f64;
        assert!((2.0..=4.0).contains(&per_tx), "{per_tx} traces a transaction");
        let tops: Vec<&Value> = traces.iter().filter(|t| t["traceAddress"] == json!([])).collect();
        assert_eq!(tops.len() as u64, TXS_PER_BLOCK);
        for (i, t) in tops.iter().enumerate() {
            assert_eq!(t["transactionHash"], json!(chain.tx_hash(n, i as u64)));
        }
        // Every subtrace count is the number of traces one level below.
        for t in traces {
            let path = t["traceAddress"].as_array().unwrap();
            let children = traces
                .iter()
                .filter(|c| c["transactionPosition"] == t["transactionPosition"])
                .filter(|c| {
                    let p = c["traceAddress"].as_array().unwrap();
                    p.len() == path.len() + 1 && p[..path.len()] == path[..]
                })
                .count();
            assert_eq!(t["subtraces"], json!(children), "{t}");
        }
    }
}
