//! `chainx blocks-for-date`: a UTC day's first and last block, found by binary search on block
//! timestamps (they never decrease along the chain). About 2 × log2(head) header calls: 50
//! on mainnet.

use chainx_evm::BlockFetcher;

use crate::{Error, Result};

const SECONDS_PER_DAY: u64 = 86_400;

/// A UTC day's blocks: `from_block..=to_block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayBlocks {
    pub from_block: u64,
    pub to_block: u64,
}

/// `YYYY-MM-DD` as the UTC day's first second since the epoch; None if it is no such day.
pub fn day_start(date: &str) -> Option<u64> {
    let mut parts = date.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if date.len() != 10 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || y < 1970 {
        return None;
    }
    Some(days_from_civil(y, m, d) * SECONDS_PER_DAY)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`, for years from 1970).
fn days_from_civil(y: u32, m: u32, d: u32) -> u64 {
    let y = u64::from(if m <= 2 { y - 1 } else { y });
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = u64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + u64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The blocks of UTC day `date` (`YYYY-MM-DD`). Fails if the chain has no block that day, or if
/// the day is not over on the chain yet (its head is still in it) unless `partial`: a daily
/// job run too early would otherwise land half a day and call it done.
pub async fn blocks_for_date(fetcher: &BlockFetcher, date: &str, partial: bool) -> Result<DayBlocks> {
    let start = day_start(date)
        .ok_or_else(|| Error::Config(format!("date `{date}` is not a YYYY-MM-DD day (e.g. 2024-03-01)")))?;
    let end = start + SECONDS_PER_DAY;
    let head = fetcher.head().await?;
    let head_time = timestamp(fetcher, head).await?;
    // The first block at or after `start`, and the first at or after `end` (head + 1 if none).
    let first = first_at_or_after(fetcher, start, head, head_time).await?;
    let after = first_at_or_after(fetcher, end, head, head_time).await?;
    if head_time < end && !partial {
        return Err(Error::Config(format!(
            "{date} is not over on the chain yet: its head, block {head}, is at {head_time} (the day ends at {end}); \
             wait, or pass --partial for the blocks so far"
        )));
    }
    if first >= after {
        return Err(Error::Config(format!(
            "the chain has no block on {date} (head is block {head}, at {head_time})"
        )));
    }
    Ok(DayBlocks {
        from_block: first,
        to_block: after - 1,
    })
}

async fn first_at_or_after(fetcher: &BlockFetcher, time: u64, head: u64, head_time: u64) -> Result<u64> {
    if head_time < time {
        return Ok(head + 1);
    }
    // Invariant: the answer is in lo..=hi, and block hi is at or after `time`.
    let (mut lo, mut hi) = (0, head);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if timestamp(fetcher, mid).await? >= time {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

async fn timestamp(fetcher: &BlockFetcher, n: u64) -> Result<u64> {
    let headers = fetcher.fetch_headers(&[n]).await?;
    let header = headers.first().ok_or(chainx_evm::Error::MissingBlock { block: n })?;
    Ok(header.timestamp.to())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights() {
        assert_eq!(day_start("1970-01-01"), Some(0));
        assert_eq!(day_start("2024-03-01"), Some(1_709_251_200));
        assert_eq!(day_start("2024-02-29"), Some(1_709_164_800));
        assert_eq!(day_start("2000-12-31"), Some(978_220_800));
    }

    #[test]
    fn no_such_days() {
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-03-01",
            "2024-03-00",
            "yesterday",
            "1969-12-31",
        ] {
            assert_eq!(day_start(bad), None, "{bad}");
        }
    }
}
