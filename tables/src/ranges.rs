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

    pub fn contains(&self, n: u64) -> bool {
        self.0.iter().any(|&(a, b)| a <= n && n <= b)
    }

    pub fn insert(&mut self, from: u64, to: u64) {
        if from > to {
            return;
        }
        let (mut lo, mut hi) = (from, to);
        let mut kept = Vec::with_capacity(self.0.len() + 1);
        for &(a, b) in &self.0 {
            // Overlapping or adjacent ranges merge, so the set stays minimal.
            if b.saturating_add(1) < lo || hi.saturating_add(1) < a {
                kept.push((a, b));
            } else {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        kept.push((lo, hi));
        kept.sort_unstable();
        self.0 = kept;
    }

    pub fn union(&self, other: &BlockRanges) -> BlockRanges {
        let mut out = self.clone();
        for &(a, b) in &other.0 {
            out.insert(a, b);
        }
        out
    }

    pub fn intersect(&self, other: &BlockRanges) -> BlockRanges {
        let mut out = BlockRanges::new();
        for &(a, b) in &self.0 {
            for &(c, d) in &other.0 {
                out.insert(a.max(c), b.min(d));
            }
        }
        out
    }

    pub fn subtract(&self, other: &BlockRanges) -> BlockRanges {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            let mut lo = a;
            for &(c, d) in &other.0 {
                if d < lo || c > b {
                    continue;
                }
                if c > lo {
                    out.push((lo, c - 1));
                }
                if d >= b {
                    lo = u64::MAX;
                    break;
                }
                lo = d + 1;
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
