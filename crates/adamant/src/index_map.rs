//! Hash maps keyed by parameter index, with a hash that costs one multiplication.
//!
//! Parameter indices are small integers chosen by the caller, not by an adversary, so the
//! standard library's DoS-resistant hash is wasted work on the per-tensor path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Fibonacci hashing of one integer: a bijection whose high bits are well mixed.
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
        self.0 = (i as u64 ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map from parameter index to `V`.
pub type IndexMap<V> = HashMap<usize, V, BuildHasherDefault<IndexHasher>>;
