//! Column builders the datasets share: rows to Arrow arrays, every integer checked into its
//! column's type (an overflow names the block and the field, never wraps).

use std::sync::Arc;

use chainx_evm::alloy_primitives::U256;
use deltalake::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, ListArray, StringBuilder,
    TimestampMicrosecondArray,
};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};

use crate::error::{Error, Result};

pub(crate) fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub(crate) fn field(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

const SECONDS_PER_DAY: u64 = 86_400;
/// 10^38: the first value Decimal(38,0) cannot hold.
pub(crate) const DECIMAL38_LIMIT: u128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;

pub(crate) fn decimal(block: u64, field: &'static str, v: U256) -> Result<i128> {
    let overflow = || Error::Overflow {
        block,
        field,
        value: v.to_string(),
        target: "Decimal(38,0)",
    };
    let small: u128 = v.try_into().map_err(|_| overflow())?;
    if small >= DECIMAL38_LIMIT {
        return Err(overflow());
    }
    i128::try_from(small).map_err(|_| overflow())
}

pub(crate) fn int(block: u64, field: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Overflow {
        block,
        field,
        value: v.to_string(),
        target: "int64",
    })
}

pub(crate) fn decimals(values: Vec<Option<i128>>) -> Result<ArrayRef> {
    Ok(Arc::new(Decimal128Array::from(values).with_precision_and_scale(38, 0)?))
}

/// A string column, its buffers sized up front: grown by doubling, a commit's worth of hashes
/// would be copied a dozen times.
pub(crate) fn strings<'a, I>(values: I) -> ArrayRef
where
    I: IntoIterator<Item = Option<&'a str>>,
    I::IntoIter: Clone,
{
    let values = values.into_iter();
    let (items, bytes) = values
        .clone()
        .fold((0, 0), |(n, b), v| (n + 1, b + v.map_or(0, str::len)));
    let mut builder = StringBuilder::with_capacity(items, bytes);
    for v in values {
        builder.append_option(v);
    }
    Arc::new(builder.finish())
}

/// A list column's item, named `element` as Delta's Arrow conversion names list items, so
/// batches and the table's schema compare equal.
pub(crate) fn list_item() -> FieldRef {
    Arc::new(Field::new("element", DataType::Utf8, true))
}

pub(crate) fn string_list_type() -> DataType {
    DataType::List(list_item())
}

/// A list-of-strings column, one list per row; `block` names the first row's block should the
/// lists outgrow one batch's offsets.
pub(crate) fn string_lists<'a, I>(block: u64, field: &'static str, lists: I) -> Result<ArrayRef>
where
    I: IntoIterator<Item = &'a [String]>,
    I::IntoIter: Clone,
{
    let lists = lists.into_iter();
    let offsets = list_offsets(block, field, lists.clone().map(<[String]>::len))?;
    let values = strings(lists.flat_map(|l| l.iter().map(|s| Some(s.as_str()))));
    Ok(Arc::new(ListArray::try_new(list_item(), offsets, values, None)?))
}

/// A nullable list-of-strings column (a null list where the row has none).
pub(crate) fn optional_string_lists(block: u64, field: &'static str, lists: &[Option<Vec<&str>>]) -> Result<ArrayRef> {
    let offsets = list_offsets(block, field, lists.iter().map(|l| l.as_ref().map_or(0, Vec::len)))?;
    let values = strings(lists.iter().flatten().flat_map(|l| l.iter().map(|s| Some(*s))));
    let valid: Vec<bool> = lists.iter().map(Option::is_some).collect();
    Ok(Arc::new(ListArray::try_new(
        list_item(),
        offsets,
        values,
        Some(valid.into()),
    )?))
}

/// The offsets of lists of these lengths, refused past what one batch's i32 offsets hold.
fn list_offsets(block: u64, field: &'static str, lengths: impl Iterator<Item = usize>) -> Result<OffsetBuffer<i32>> {
    let mut offsets = vec![0i32];
    let mut total = 0usize;
    for n in lengths {
        total += n;
        offsets.push(i32::try_from(total).map_err(|_| Error::Overflow {
            block,
            field,
            value: total.to_string(),
            target: "one batch",
        })?);
    }
    Ok(OffsetBuffer::new(offsets.into()))
}

pub(crate) fn opt_bools(values: impl IntoIterator<Item = Option<bool>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<BooleanArray>())
}

pub(crate) fn bools(values: impl IntoIterator<Item = bool>) -> ArrayRef {
    Arc::new(values.into_iter().map(Some).collect::<BooleanArray>())
}

pub(crate) fn ints(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

pub(crate) fn timestamps(seconds: impl IntoIterator<Item = u64>) -> Result<ArrayRef> {
    let micros: Vec<i64> = seconds
        .into_iter()
        .map(|s| {
            i64::try_from(s)
                .ok()
                .and_then(|s| s.checked_mul(1_000_000))
                .unwrap_or(i64::MAX)
        })
        .collect();
    Ok(Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC")))
}

/// The UTC date of a block, as days since the epoch (Arrow Date32).
pub(crate) fn dates(seconds: impl IntoIterator<Item = u64>) -> ArrayRef {
    let days: Vec<i32> = seconds
        .into_iter()
        .map(|s| i32::try_from(s / SECONDS_PER_DAY).unwrap_or(i32::MAX))
        .collect();
    Arc::new(Date32Array::from(days))
}

pub(crate) fn opt_dec(block: u64, field: &'static str, v: Option<U256>) -> Result<Option<i128>> {
    v.map(|v| decimal(block, field, v)).transpose()
}

pub(crate) fn opt_int(block: u64, field: &'static str, v: Option<u64>) -> Result<Option<i64>> {
    v.map(|v| int(block, field, v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_exact_up_to_38_digits() {
        let max = U256::from(DECIMAL38_LIMIT - 1);
        assert_eq!(decimal(1, "value", max).unwrap(), (DECIMAL38_LIMIT - 1) as i128);
        let err = decimal(5, "value", U256::from(DECIMAL38_LIMIT))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("block 5") && err.contains("value") && err.contains("Decimal(38,0)"),
            "{err}"
        );
        assert!(decimal(5, "value", U256::MAX).is_err());
    }

    #[test]
    fn dates_are_utc_days() {
        let d = dates([1_709_251_199, 1_709_251_200]);
        let d = d.as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(d.value(0) + 1, d.value(1));
    }
}
