//! The seeded generator of `train`: PCG-64 (`rand_pcg`, portable and value-stable), so the same
//! seed gives the same run on every machine, and the few mappings `train` needs from its bits.

use rand_core::Rng as _;
use rand_pcg::Pcg64;

/// A PCG-64 generator with the mappings `train` uses.
#[derive(Debug, Clone)]
pub struct Rng(Pcg64);

impl Rng {
    /// A generator for `seed`, and a `stream` of it (epochs use their own streams, so a run
    /// resumed at an epoch sees the same data order as an uninterrupted one).
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng(Pcg64::new(u128::from(seed), u128::from(stream)))
    }

    /// Uniform in [0, 1): the top 24 bits of the next output.
    pub fn uniform(&mut self) -> f32 {
        (self.0.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in 0..n (the modulo's bias is below 2^-40 for every `n` here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    /// A standard normal value (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-7), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// Shuffles `items` (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_values_and_streams_differ() {
        let take = |seed, stream| {
            let mut r = Rng::new(seed, stream);
            (0..4).map(|_| r.uniform()).collect::<Vec<_>>()
        };
        assert_eq!(take(7, 0), take(7, 0));
        assert_ne!(take(7, 0), take(7, 1));
        assert_ne!(take(7, 0), take(8, 0));
        assert!(take(7, 0).iter().all(|u| (0.0..1.0).contains(u)));
    }

    #[test]
    fn the_stream_of_a_seed_is_pinned() {
        // Runs, and the figures the README quotes, depend on these bits: a generator update
        // that changed them would change every run.
        let mut r = Rng::new(42, 0);
        let bits: Vec<u64> = (0..3).map(|_| r.0.next_u64()).collect();
        assert_eq!(bits, [0x3f04_2f64_9083_f6aa, 0x649a_f5df_0210_45f2, 0x1b7f_1298_37b9_3984]);
    }
}
