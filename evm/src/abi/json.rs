//! ABI text in, typed JSON values out.

use alloy_dyn_abi::DynSolValue;
use alloy_json_abi::{JsonAbi, Param};
use serde_json::{json, Value};

/// A JSON ABI array, or an object holding one under `abi` (solc/hardhat/foundry artifacts).
pub(super) fn parse_abi(text: &str) -> Result<JsonAbi, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let abi = match value {
        Value::Object(mut o) => o.remove("abi").ok_or("an object without an `abi` field")?,
        v => v,
    };
    serde_json::from_value(abi).map_err(|e| format!("not a valid ABI: {e}"))
}

/// Typed JSON for one value; `param` names tuple components when it has them.
pub(super) fn to_json(v: &DynSolValue, param: Option<&Param>) -> Value {
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
