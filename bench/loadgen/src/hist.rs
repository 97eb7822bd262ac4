//! Latencies kept as a histogram of values rounded down to three significant digits (at most
//! 1% low), so a million samples travel between processes as a few hundred pairs.

use std::collections::BTreeMap;

#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Histogram(BTreeMap<u64, u64>);

/// `v` rounded down to three significant digits.
pub fn quantize(v: u64) -> u64 {
    let mut scale = 1;
    while v / scale >= 1000 {
        scale *= 10;
    }
    v / scale * scale
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        *self.0.entry(quantize(micros)).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (&v, &n) in &other.0 {
            *self.0.entry(v).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The smallest recorded value with at least `q` of the samples at or below it.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (&v, &n) in &self.0 {
            seen += n;
            if seen >= rank {
                return Some(v);
            }
        }
        self.0.keys().next_back().copied()
    }

    pub fn max(&self) -> Option<u64> {
        self.0.keys().next_back().copied()
    }

    pub fn to_pairs(&self) -> Vec<[u64; 2]> {
        self.0.iter().map(|(&v, &n)| [v, n]).collect()
    }

    pub fn from_pairs(pairs: &[[u64; 2]]) -> Self {
        let mut h = Self::default();
        for &[v, n] in pairs {
            *h.0.entry(v).or_default() += n;
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizes_to_three_digits() {
        assert_eq!(quantize(7), 7);
        assert_eq!(quantize(999), 999);
        assert_eq!(quantize(1234), 1230);
        assert_eq!(quantize(98_765), 98_700);
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.99), Some(99));
        assert_eq!(h.max(), Some(100));
        let mut merged = Histogram::from_pairs(&h.to_pairs());
        merged.merge(&h);
        assert_eq!(merged.count(), 200);
        assert_eq!(merged.quantile(0.5), Some(50));
    }
}
