//! Values a column's type cannot hold (a wei amount of 10^38 or more, a gas count above
//! i64::MAX): the column gets null and the row's `extra` keeps the exact value as a decimal
//! string under the column's name, so one absurd value neither fails a commit (which the sink
//! would retry for ever) nor is lost. Each one is logged and counted.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use chainx_evm::alloy_primitives::U256;
use deltalake::arrow::array::ArrayRef;

use super::columns::{decimal, int, strings};

static KEPT: AtomicU64 = AtomicU64::new(0);

/// How many values this process has kept in `extra` because their column could not hold them.
pub fn out_of_range_values() -> u64 {
    KEPT.load(Ordering::Relaxed)
}

/// The values of one batch kept aside: (row, column, exact decimal text).
#[derive(Default)]
pub(crate) struct OutOfRange {
    kept: RefCell<Vec<(usize, &'static str, String)>>,
}

impl OutOfRange {
    /// A Decimal(38,0) cell, or null with the value kept.
    pub fn dec(&self, row: usize, block: u64, column: &'static str, v: Option<U256>) -> Option<i128> {
        let v = v?;
        decimal(block, column, v)
            .map_err(|_| self.keep(row, block, column, v.to_string()))
            .ok()
    }

    /// An int64 cell, or null with the value kept.
    pub fn int(&self, row: usize, block: u64, column: &'static str, v: Option<u64>) -> Option<i64> {
        let v = v?;
        int(block, column, v)
            .map_err(|_| self.keep(row, block, column, v.to_string()))
            .ok()
    }

    fn keep(&self, row: usize, block: u64, column: &'static str, value: String) {
        tracing::warn!(block, column, %value, "the column cannot hold this value: null there, kept exactly in `extra`");
        KEPT.fetch_add(1, Ordering::Relaxed);
        self.kept.borrow_mut().push((row, column, value));
    }

    /// The `extra` column: each row's own `extra` with the values kept from its columns added.
    pub fn extra_column<'a, I>(&self, extras: I) -> ArrayRef
    where
        I: IntoIterator<Item = Option<&'a str>>,
        I::IntoIter: Clone,
    {
        let kept = self.kept.borrow();
        if kept.is_empty() {
            return strings(extras);
        }
        let merged: Vec<Option<String>> = extras
            .into_iter()
            .enumerate()
            .map(|(row, own)| {
                let mine: serde_json::Map<String, serde_json::Value> = kept
                    .iter()
                    .filter(|(r, _, _)| *r == row)
                    .map(|(_, column, value)| (column.to_string(), serde_json::Value::String(value.clone())))
                    .collect();
                let mine = (!mine.is_empty()).then(|| serde_json::Value::Object(mine).to_string());
                chainx_evm::merge_extra(own, mine.as_deref())
            })
            .collect();
        strings(merged.iter().map(|e| e.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, StringArray};

    #[test]
    fn a_value_no_column_holds_is_kept_exactly_in_extra() {
        let kept = OutOfRange::default();
        let before = out_of_range_values();
        let huge = U256::from(10u8).pow(U256::from(40u8));
        assert_eq!(kept.dec(1, 7, "value", Some(huge)), None);
        assert_eq!(kept.dec(0, 7, "value", Some(U256::from(5u8))), Some(5));
        assert_eq!(kept.int(1, 7, "gas", Some(u64::MAX)), None);
        assert_eq!(out_of_range_values() - before, 2);
        let column = kept.extra_column([Some(r#"{"v":"0x1"}"#), Some(r#"{"v":"0x0"}"#)]);
        let column = column.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(column.value(0), r#"{"v":"0x1"}"#);
        let second: serde_json::Value = serde_json::from_str(column.value(1)).unwrap();
        assert_eq!(
            second,
            serde_json::json!({"v": "0x0", "value": huge.to_string(), "gas": u64::MAX.to_string()})
        );
        assert!(!column.is_null(0));
    }
}
