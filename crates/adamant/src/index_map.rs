//! Hash maps keyed by parameter index, with a hash that costs one multiplication.
//!
//! Parameter indices are small integers chosen by the caller, not by an adversary, so the
//! standard library's DoS-resistant hash is wasted work on the per-tensor path. The hash keeps
//! the index in its low bits, which pick the bucket, so consecutive indices (the usual case)
//! sit in consecutive buckets and a pass over a batch walks the table in order; the top bits,
//! which the table uses to tell keys apart within a group, are mixed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The index in the low bits, a Fibonacci mix of it in the top 7 bits.
#[derive(Debug, Default, Clone, Copy)]
pub struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, i: usize) {
        const TOP: u64 = 0xfe00_0000_0000_0000;
        let i = i as u64 ^ self.0;
        self.0 = (i & !TOP) | (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & TOP);
    }
}

/// A map from parameter index to `V`.
pub type IndexMap<V> = HashMap<usize, V, BuildHasherDefault<IndexHasher>>;

/// Values keyed by parameter index, stored densely for small indices (the usual `0..n`, where a
/// lookup is an array access) and in an [`IndexMap`] for the rest.
#[derive(Debug, Clone, Default)]
pub struct IndexTable<V> {
    dense: Vec<Option<V>>,
    sparse: IndexMap<V>,
}

/// Indices below this are kept in the dense part (8 MiB of `Option<u64>` at most).
const DENSE_LIMIT: usize = 1 << 19;

impl<V> IndexTable<V> {
    /// The value of `index`.
    #[inline]
    pub fn get(&self, index: usize) -> Option<&V> {
        match self.dense.get(index) {
            Some(slot) => slot.as_ref(),
            None if index < DENSE_LIMIT => None,
            None => self.sparse.get(&index),
        }
    }

    /// The value of `index`, inserted by `make` if absent.
    #[inline]
    pub fn get_or_insert_with(&mut self, index: usize, make: impl FnOnce() -> V) -> &mut V {
        if index < DENSE_LIMIT {
            if index >= self.dense.len() {
                self.dense.resize_with(index + 1, || None);
            }
            self.dense[index].get_or_insert_with(make)
        } else {
            self.sparse.entry(index).or_insert_with(make)
        }
    }

    /// Sets the value of `index`: `None` removes it.
    pub fn set(&mut self, index: usize, value: Option<V>) {
        if index >= DENSE_LIMIT {
            match value {
                Some(v) => self.sparse.insert(index, v),
                None => self.sparse.remove(&index),
            };
        } else if value.is_some() || index < self.dense.len() {
            if index >= self.dense.len() {
                self.dense.resize_with(index + 1, || None);
            }
            self.dense[index] = value;
        }
    }

    /// Every index with its value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &V)> {
        let dense = self.dense.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (i, v)));
        dense.chain(self.sparse.iter().map(|(&i, v)| (i, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_indices_are_both_kept() {
        let mut table = IndexTable::default();
        *table.get_or_insert_with(3, || 0u64) += 1;
        *table.get_or_insert_with(usize::MAX, || 7) += 1;
        *table.get_or_insert_with(3, || 0) += 1;
        assert_eq!((table.get(3), table.get(usize::MAX), table.get(4)), (Some(&2), Some(&8), None));
        let mut all: Vec<(usize, u64)> = table.iter().map(|(i, &v)| (i, v)).collect();
        all.sort_unstable();
        assert_eq!(all, [(3, 2), (usize::MAX, 8)]);
    }
}
