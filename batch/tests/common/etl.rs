//! ethereum-etl's expected files read as rows, and the field-by-field comparison with what
//! landed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::value::RawValue;
use serde_json::Value;

use super::Row;

/// Columns ethereum-etl emits that chainx's tables do not have (its streaming envelope, L2
/// receipt fields, and the pre-Byzantium `receipt_root`).
pub const NOT_OURS: &[&str] = &[
    "type",
    "item_id",
    "item_timestamp",
    "receipt_root",
    "receipt_l1_fee",
    "receipt_l1_gas_used",
    "receipt_l1_gas_price",
    "receipt_l1_fee_scalar",
    "receipt_logs_count",
];

pub fn expected_csv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new(); // a block without transactions: an empty file
    };
    let header: Vec<&str> = header.split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(k, v)| (k.to_string(), (!v.is_empty()).then(|| v.to_string())))
                .collect()
        })
        .collect()
}

pub fn expected_json(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Raw values: numbers keep their exact digits (total_difficulty exceeds u64).
            let v: BTreeMap<String, Box<RawValue>> = serde_json::from_str(l).unwrap();
            v.into_iter()
                .map(|(k, v)| {
                    let s = match serde_json::from_str::<Value>(v.get()).unwrap() {
                        Value::Null => None,
                        Value::String(s) => Some(s),
                        Value::Array(a) if a.is_empty() => None,
                        // Compact, as the lake's lists are rendered.
                        Value::Array(a) => Some(serde_json::to_string(&a).unwrap()),
                        _ => Some(v.get().to_string()),
                    };
                    (k, s)
                })
                .collect()
        })
        .collect()
}

/// The rows with a `key` column joining `columns`: logs and transfers are keyed by block and
/// log index together.
pub fn keyed(rows: Vec<Row>, columns: &[&str]) -> Vec<Row> {
    rows.into_iter()
        .map(|mut r| {
            let key: Vec<String> = columns.iter().map(|c| r[*c].clone().unwrap_or_default()).collect();
            r.insert("key".into(), Some(key.join("/")));
            r
        })
        .collect()
}

/// A CSV with quoted fields (ethereum-etl's `topics` column holds commas).
pub fn expected_quoted_csv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let split = |line: &str| -> Vec<String> {
        let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        fields
    };
    let mut lines = text.lines();
    let header = split(lines.next().unwrap());
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(split(l))
                .map(|(k, v)| (k, (!v.is_empty()).then_some(v)))
                .collect()
        })
        .collect()
}

/// Compares every expected field, by the row's key column.
pub fn assert_matches(what: &str, key: &str, expected: &[Row], landed: &[Row]) -> usize {
    assert_eq!(expected.len(), landed.len(), "{what}: row count");
    let mut compared = 0;
    for e in expected {
        let k = e[key].as_deref().unwrap();
        let ours = landed
            .iter()
            .find(|r| r[key].as_deref() == Some(k))
            .unwrap_or_else(|| panic!("{what}: no landed row with {key} = {k}"));
        for (col, want) in e {
            if NOT_OURS.contains(&col.as_str()) || (col == "withdrawals" && want.is_none()) {
                continue;
            }
            let got = ours
                .get(col)
                .unwrap_or_else(|| panic!("{what}: chainx has no column {col}"));
            assert_eq!(got, want, "{what}: {key} {k}: column {col}");
            compared += 1;
        }
    }
    compared
}
