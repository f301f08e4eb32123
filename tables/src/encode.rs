//! Rows to Arrow batches in the lake's schemas.

use std::sync::Arc;

use chainx_evm::alloy_primitives::U256;
use chainx_evm::{BlockRow, DecodedCallRow, TransactionRow, Withdrawal};
use deltalake::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Int64Array, ListArray, RecordBatch, StringBuilder, StructArray,
    TimestampMicrosecondArray,
};
use deltalake::arrow::buffer::OffsetBuffer;

use crate::error::{Error, Result};
use crate::schema::{blocks_schema, decoded_calls_schema, transactions_schema, withdrawal_fields, withdrawal_item};

const SECONDS_PER_DAY: u64 = 86_400;
/// 10^38: the first value Decimal(38,0) cannot hold.
const DECIMAL38_LIMIT: u128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;

fn decimal(block: u64, field: &'static str, v: U256) -> Result<i128> {
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

fn int(block: u64, field: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Overflow {
        block,
        field,
        value: v.to_string(),
        target: "int64",
    })
}

fn decimals(values: Vec<Option<i128>>) -> Result<ArrayRef> {
    Ok(Arc::new(Decimal128Array::from(values).with_precision_and_scale(38, 0)?))
}

/// A string column, its buffers sized up front: grown by doubling, a commit's worth of hashes
/// would be copied a dozen times.
fn strings<'a, I>(values: I) -> ArrayRef
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

fn ints(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

fn timestamps(seconds: impl IntoIterator<Item = u64>) -> Result<ArrayRef> {
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
fn dates(seconds: impl IntoIterator<Item = u64>) -> ArrayRef {
    let days: Vec<i32> = seconds
        .into_iter()
        .map(|s| i32::try_from(s / SECONDS_PER_DAY).unwrap_or(i32::MAX))
        .collect();
    Arc::new(Date32Array::from(days))
}

fn opt_dec(block: u64, field: &'static str, v: Option<U256>) -> Result<Option<i128>> {
    v.map(|v| decimal(block, field, v)).transpose()
}

fn opt_int(block: u64, field: &'static str, v: Option<u64>) -> Result<Option<i64>> {
    v.map(|v| int(block, field, v)).transpose()
}

fn withdrawals(rows: &[BlockRow]) -> Result<ArrayRef> {
    let mut offsets = vec![0i32];
    let mut nulls = Vec::with_capacity(rows.len());
    let mut all: Vec<(u64, &Withdrawal)> = Vec::new();
    for r in rows {
        if let Some(ws) = &r.withdrawals {
            all.extend(ws.iter().map(|w| (r.number, w)));
        }
        nulls.push(r.withdrawals.is_some());
        offsets.push(i32::try_from(all.len()).map_err(|_| Error::Overflow {
            block: r.number,
            field: "withdrawals",
            value: all.len().to_string(),
            target: "one batch",
        })?);
    }
    let index = ints(
        all.iter()
            .map(|(b, w)| int(*b, "withdrawals.index", w.index).map(Some))
            .collect::<Result<_>>()?,
    );
    let validator = ints(
        all.iter()
            .map(|(b, w)| int(*b, "withdrawals.validator_index", w.validator_index).map(Some))
            .collect::<Result<_>>()?,
    );
    let address = strings(all.iter().map(|(_, w)| Some(w.address.as_str())));
    let amount = decimals(
        all.iter()
            .map(|(b, w)| decimal(*b, "withdrawals.amount", w.amount).map(Some))
            .collect::<Result<_>>()?,
    )?;
    let structs = StructArray::try_new(withdrawal_fields(), vec![index, validator, address, amount], None)?;
    Ok(Arc::new(ListArray::try_new(
        withdrawal_item(),
        OffsetBuffer::new(offsets.into()),
        Arc::new(structs),
        Some(nulls.into()),
    )?))
}

pub fn blocks_batch(rows: &[BlockRow]) -> Result<RecordBatch> {
    let dec = |f: &'static str, get: fn(&BlockRow) -> Option<U256>| {
        decimals(
            rows.iter()
                .map(|r| opt_dec(r.number, f, get(r)))
                .collect::<Result<_>>()?,
        )
    };
    let int_col = |f: &'static str, get: fn(&BlockRow) -> Option<u64>| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| opt_int(r.number, f, get(r)))
                .collect::<Result<_>>()?,
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        int_col("number", |r| Some(r.number))?,
        strings(rows.iter().map(|r| Some(r.hash.as_str()))),
        strings(rows.iter().map(|r| Some(r.parent_hash.as_str()))),
        strings(rows.iter().map(|r| r.nonce.as_deref())),
        strings(rows.iter().map(|r| Some(r.sha3_uncles.as_str()))),
        strings(rows.iter().map(|r| Some(r.logs_bloom.as_str()))),
        strings(rows.iter().map(|r| Some(r.transactions_root.as_str()))),
        strings(rows.iter().map(|r| Some(r.state_root.as_str()))),
        strings(rows.iter().map(|r| Some(r.receipts_root.as_str()))),
        strings(rows.iter().map(|r| Some(r.miner.as_str()))),
        dec("difficulty", |r| Some(r.difficulty))?,
        dec("total_difficulty", |r| r.total_difficulty)?,
        int_col("size", |r| r.size)?,
        strings(rows.iter().map(|r| Some(r.extra_data.as_str()))),
        int_col("gas_limit", |r| Some(r.gas_limit))?,
        int_col("gas_used", |r| Some(r.gas_used))?,
        timestamps(rows.iter().map(|r| r.timestamp))?,
        int_col("transaction_count", |r| Some(r.transaction_count))?,
        dec("base_fee_per_gas", |r| r.base_fee_per_gas)?,
        strings(rows.iter().map(|r| r.withdrawals_root.as_deref())),
        withdrawals(rows)?,
        int_col("blob_gas_used", |r| r.blob_gas_used)?,
        int_col("excess_blob_gas", |r| r.excess_blob_gas)?,
        strings(rows.iter().map(|r| r.parent_beacon_block_root.as_deref())),
        dates(rows.iter().map(|r| r.timestamp)),
    ];
    Ok(RecordBatch::try_new(blocks_schema(), columns)?)
}

pub fn transactions_batch<S: AsRef<str>>(rows: &[TransactionRow<S>]) -> Result<RecordBatch> {
    let dec = |f: &'static str, get: fn(&TransactionRow<S>) -> Option<U256>| {
        decimals(
            rows.iter()
                .map(|r| opt_dec(r.block_number, f, get(r)))
                .collect::<Result<_>>()?,
        )
    };
    let int_col = |f: &'static str, get: fn(&TransactionRow<S>) -> Option<u64>| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| opt_int(r.block_number, f, get(r)))
                .collect::<Result<_>>()?,
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.hash.as_ref()))),
        int_col("nonce", |r| Some(r.nonce))?,
        strings(rows.iter().map(|r| Some(r.block_hash.as_ref()))),
        int_col("block_number", |r| Some(r.block_number))?,
        int_col("transaction_index", |r| Some(r.transaction_index))?,
        strings(rows.iter().map(|r| Some(r.from_address.as_ref()))),
        strings(rows.iter().map(|r| r.to_address.as_ref().map(AsRef::as_ref))),
        dec("value", |r| Some(r.value))?,
        int_col("gas", |r| Some(r.gas))?,
        dec("gas_price", |r| r.gas_price)?,
        strings(rows.iter().map(|r| Some(r.input.as_ref()))),
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        dec("max_fee_per_gas", |r| r.max_fee_per_gas)?,
        dec("max_priority_fee_per_gas", |r| r.max_priority_fee_per_gas)?,
        int_col("transaction_type", |r| r.transaction_type)?,
        int_col("receipt_cumulative_gas_used", |r| r.receipt_cumulative_gas_used)?,
        int_col("receipt_gas_used", |r| r.receipt_gas_used)?,
        strings(
            rows.iter()
                .map(|r| r.receipt_contract_address.as_ref().map(AsRef::as_ref)),
        ),
        int_col("receipt_status", |r| r.receipt_status)?,
        dec("receipt_effective_gas_price", |r| r.receipt_effective_gas_price)?,
        strings(rows.iter().map(|r| Some(r.tx_kind.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(transactions_schema(), columns)?)
}

pub fn decoded_calls_batch(rows: &[DecodedCallRow]) -> Result<RecordBatch> {
    let int_col = |f: &'static str, get: fn(&DecodedCallRow) -> u64| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| int(r.block_number, f, get(r)).map(Some))
                .collect::<Result<_>>()?,
        ))
    };
    let args: Vec<Option<String>> = rows
        .iter()
        .map(|r| (!r.call.args.is_empty()).then(|| serde_json::to_string(&r.call.args).unwrap_or_default()))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.hash.as_str()))),
        int_col("block_number", |r| r.block_number)?,
        strings(rows.iter().map(|r| Some(r.block_hash.as_str()))),
        int_col("transaction_index", |r| r.transaction_index)?,
        strings(rows.iter().map(|r| Some(r.from_address.as_str()))),
        strings(rows.iter().map(|r| r.to_address.as_deref())),
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        strings(rows.iter().map(|r| Some(r.call.decode_status.as_str()))),
        strings(rows.iter().map(|r| r.call.decode_error.as_deref())),
        strings(rows.iter().map(|r| r.call.selector.as_deref())),
        strings(rows.iter().map(|r| r.call.function_name.as_deref())),
        strings(rows.iter().map(|r| r.call.signature.as_deref())),
        strings(args.iter().map(|a| a.as_deref())),
        strings(rows.iter().map(|r| r.call.abi_source.map(|s| s.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(decoded_calls_schema(), columns)?)
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
