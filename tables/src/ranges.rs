//! Sets of block numbers as sorted, disjoint, inclusive ranges: what a table covers, what a
//! request asks for, and what is left to fetch.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockRanges(Vec<(u64, u64)>);

impl BlockRanges {
    pub fn new() -> Self {
        BlockRanges(Vec::new())
    }

    /// `from..=to`; empty when `from > to`.
    pub fn span(from: u64, to: u64) -> Self {
        let mut r = BlockRanges::new();
        r.insert(from, to);
        r
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }

    pub fn count(&self) -> u64 {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Binary search: the sink asks for every message.
    pub fn contains(&self, n: u64) -> bool {
        let i = self.0.partition_point(|&(_, b)| b < n);
        self.0.get(i).is_some_and(|&(a, _)| a <= n)
    }

    pub fn insert(&mut self, from: u64, to: u64) {
        if from > to {
            return;
        }
        // Ranges that overlap or touch [from, to] are the run [first, last); they merge into one.
        let first = self.0.partition_point(|&(_, b)| b.saturating_add(1) < from);
        let last = self.0.partition_point(|&(a, _)| a <= to.saturating_add(1));
        let (mut lo, mut hi) = (from, to);
        if first < last {
            lo = lo.min(self.0[first].0);
            hi = hi.max(self.0[last - 1].1);
        }
        self.0.splice(first..last, [(lo, hi)]);
    }

    /// Sorted merge, linear in both sizes (coverage can hold many ranges while a sink catches up
    /// out of order).
    pub fn union(&self, other: &BlockRanges) -> BlockRanges {
        let mut all: Vec<(u64, u64)> = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() || j < other.0.len() {
            let next = match (self.0.get(i), other.0.get(j)) {
                (Some(x), Some(y)) if x <= y => {
                    i += 1;
                    *x
                }
                (_, Some(y)) => {
                    j += 1;
                    *y
                }
                (Some(x), None) => {
                    i += 1;
                    *x
                }
                (None, None) => break,
            };
            match all.last_mut() {
                Some((_, b)) if next.0 <= b.saturating_add(1) => *b = (*b).max(next.1),
                _ => all.push(next),
            }
        }
        BlockRanges(all)
    }

    /// Two-pointer walk, linear in both sizes.
    pub fn intersect(&self, other: &BlockRanges) -> BlockRanges {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while let (Some(&(a, b)), Some(&(c, d))) = (self.0.get(i), other.0.get(j)) {
            let (lo, hi) = (a.max(c), b.min(d));
            if lo <= hi {
                out.push((lo, hi));
            }
            if b < d {
                i += 1;
            } else {
                j += 1;
            }
        }
        // Pieces of one range are disjoint and non-adjacent only if the inputs were; merge to be sure.
        BlockRanges(Vec::new()).union(&BlockRanges(out))
    }

    /// Two-pointer walk, linear in both sizes.
    pub fn subtract(&self, other: &BlockRanges) -> BlockRanges {
        let mut out = Vec::new();
        let mut j = 0;
        for &(a, b) in &self.0 {
            let mut lo = a;
            // Skip removals wholly before this range.
            while other.0.get(j).is_some_and(|&(_, d)| d < a) {
                j += 1;
            }
            let mut k = j;
            while let Some(&(c, d)) = other.0.get(k) {
                if c > b {
                    break;
                }
                if c > lo {
                    out.push((lo, c - 1));
                }
                if d >= b {
                    lo = u64::MAX;
                    break;
                }
                lo = lo.max(d + 1);
                k += 1;
            }
            if lo != u64::MAX && lo <= b {
                out.push((lo, b));
            }
        }
        BlockRanges(out)
    }

    /// Splits into ranges of at most `size` blocks, aligned to multiples of `size` so that
    /// reruns over overlapping requests cut the same chunks.
    pub fn chunks(&self, size: u64) -> Vec<(u64, u64)> {
        let size = size.max(1);
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            let mut lo = a;
            while lo <= b {
                let hi = ((lo / size) * size).saturating_add(size - 1).min(b);
                out.push((lo, hi));
                if hi == u64::MAX {
                    break;
                }
                lo = hi + 1;
            }
        }
        out
    }
}

impl fmt::Display for BlockRanges {
    /// `0-99,200-299`: the form stored in the table property.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for BlockRanges {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = BlockRanges::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').ok_or_else(|| format!("`{part}` is not FROM-TO"))?;
            let a: u64 = a.parse().map_err(|_| format!("`{a}` is not a block number"))?;
            let b: u64 = b.parse().map_err(|_| format!("`{b}` is not a block number"))?;
            out.insert(a, b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_overlaps_and_neighbours() {
        let mut r = BlockRanges::new();
        r.insert(10, 19);
        r.insert(30, 39);
        r.insert(20, 25);
        assert_eq!(r.ranges(), &[(10, 25), (30, 39)]);
        r.insert(0, 100);
        assert_eq!(r.ranges(), &[(0, 100)]);
        assert_eq!(r.count(), 101);
    }

    #[test]
    fn subtract_leaves_the_gaps() {
        let want = BlockRanges::span(0, 99);
        let have: BlockRanges = "10-19,50-120".parse().unwrap();
        assert_eq!(want.subtract(&have).ranges(), &[(0, 9), (20, 49)]);
        assert!(have.subtract(&BlockRanges::span(0, 200)).is_empty());
        assert_eq!(want.intersect(&have).to_string(), "10-19,50-99");
    }

    #[test]
    fn set_operations_agree_with_a_plain_set() {
        // Pseudo-random scattered sets, as a sink catching up out of order makes them.
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for _ in 0..50 {
            let (mut x, mut y) = (BlockRanges::new(), BlockRanges::new());
            let (mut xs, mut ys) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
            for _ in 0..40 {
                let a = next() % 200;
                let b = a + next() % 5;
                x.insert(a, b);
                xs.extend(a..=b);
                let c = next() % 200;
                let d = c + next() % 5;
                y.insert(c, d);
                ys.extend(c..=d);
            }
            let set = |r: &BlockRanges| -> std::collections::BTreeSet<u64> {
                r.ranges().iter().flat_map(|&(a, b)| a..=b).collect()
            };
            let minimal = |r: &BlockRanges| r.ranges().windows(2).all(|w| w[0].1 + 1 < w[1].0);
            assert_eq!(set(&x), xs);
            assert_eq!(set(&x.union(&y)), xs.union(&ys).copied().collect());
            assert_eq!(set(&x.intersect(&y)), xs.intersection(&ys).copied().collect());
            assert_eq!(set(&x.subtract(&y)), xs.difference(&ys).copied().collect());
            for r in [x.union(&y), x.intersect(&y), x.subtract(&y)] {
                assert!(minimal(&r), "{r}");
            }
            for n in 0..210 {
                assert_eq!(x.contains(n), xs.contains(&n), "{n} in {x}");
            }
        }
    }

    #[test]
    fn chunks_are_aligned() {
        let r = BlockRanges::span(150, 420);
        assert_eq!(r.chunks(100), vec![(150, 199), (200, 299), (300, 399), (400, 420)]);
    }

    #[test]
    fn round_trips_through_text() {
        let r: BlockRanges = "0-9, 20-29".parse().unwrap();
        assert_eq!(r.to_string(), "0-9,20-29");
        assert!("5".parse::<BlockRanges>().is_err());
        assert!("a-b".parse::<BlockRanges>().is_err());
    }
}
