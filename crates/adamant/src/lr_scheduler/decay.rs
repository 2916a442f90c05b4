//! Many decays at once: MXNet's loop `rate *= factor; if rate < floor: rate = floor`, run `k`
//! times, at the cost of the decays that change something.
//!
//! A scheduler asked for an update far ahead (a resume, a large `begin_num_update`) owes
//! every decay in between. Run one at a time that costs a multiplication per decay, which at
//! 10^10 decays takes minutes. But the loop reaches a fixed point (the floor, zero, or a factor
//! of 1) after a bounded number of decays, and from there on changes nothing; so it runs until
//! the fixed point or until `k` decays are done, whichever comes first, and gives the same
//! bits as the whole loop. Only where more than [`EXACT_DECAYS`] decays lie both ahead and
//! before the fixed point (a factor like `1 - 1e-9`) is the rest computed in one step, as
//! `rate * factor^k`; that differs from the loop's repeated rounding in the last bits
//! (`docs/semantics.md` gives the measured size).

/// Decays run one at a time, as MXNet runs them, before the rest is computed at once.
pub(crate) const EXACT_DECAYS: u64 = 1 << 20;

#[cfg(test)]
thread_local! {
    /// Multiplications done by [`decay`] on this thread (the tests count them).
    pub(crate) static MULTIPLICATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One decay as MXNet computes it: `rate * factor`, raised to `floor` if below it.
#[inline]
fn once(rate: f64, factor: f64, floor: f64) -> f64 {
    #[cfg(test)]
    MULTIPLICATIONS.with(|m| m.set(m.get() + 1));
    let next = rate * factor;
    if next < floor {
        floor
    } else {
        next
    }
}

/// About how many decays take `rate` to its fixed point: the floor, or (with a floor of 0)
/// the underflow to 0.
fn decays_to_fixed_point(rate: f64, factor: f64, floor: f64) -> f64 {
    if factor >= 1.0 || factor <= 0.0 || rate <= floor {
        return 1.0;
    }
    let smallest = f64::from_bits(1);
    (floor.max(smallest) / rate).ln() / factor.ln()
}

/// `rate * factor^k`, raised to `floor` if below it: `k` decays in one step.
fn at_once(rate: f64, factor: f64, floor: f64, k: u64) -> f64 {
    let rate = rate * factor.powf(k as f64);
    if rate < floor {
        floor
    } else {
        rate
    }
}

/// `rate` after `k` decays by `factor` (in `[0, 1]`) with `floor` (>= 0).
pub(crate) fn decay(mut rate: f64, factor: f64, floor: f64, k: u64) -> f64 {
    // A little margin, so that near the limit the exact loop is chosen.
    let far = 1.01 * EXACT_DECAYS as f64;
    if k > EXACT_DECAYS && decays_to_fixed_point(rate, factor, floor) > far {
        return at_once(rate, factor, floor, k);
    }
    for done in 0..k {
        if done == 2 * EXACT_DECAYS {
            // Only if the estimate above was far off; the rest at once.
            return at_once(rate, factor, floor, k - done);
        }
        let next = once(rate, factor, floor);
        if next.to_bits() == rate.to_bits() {
            // A fixed point: every further decay gives `rate` again.
            break;
        }
        rate = next;
    }
    rate
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MXNet's loop, one decay at a time.
    fn mxnet(mut rate: f64, factor: f64, floor: f64, k: u64) -> f64 {
        for _ in 0..k {
            rate *= factor;
            if rate < floor {
                rate = floor;
            }
        }
        rate
    }

    fn multiplications(f: impl FnOnce() -> f64) -> (f64, u64) {
        MULTIPLICATIONS.with(|m| m.set(0));
        let rate = f();
        (rate, MULTIPLICATIONS.with(|m| m.get()))
    }

    #[test]
    fn the_same_bits_as_mxnets_loop_at_the_cost_of_the_decays_that_change_something() {
        for (rate, factor, floor) in
            [(0.1, 0.9, 1e-6), (1.0, 0.5, 0.0), (0.3, 1.0, 1e-8), (1e-9, 1.0, 1e-8), (0.5, 0.0, 0.01)]
        {
            for k in [0, 1, 2, 7, 100, 1000, 10_000, 100_000] {
                let (got, mults) = multiplications(|| decay(rate, factor, floor, k));
                assert_eq!(
                    got.to_bits(),
                    mxnet(rate, factor, floor, k).to_bits(),
                    "{rate} {factor} {floor} {k}"
                );
                assert!(mults <= k, "{mults} multiplications for {k} decays");
            }
        }
        // Factor 0.9 from 0.1 reaches the floor 1e-6 after about 110 decays, and stops there.
        let (rate, mults) = multiplications(|| decay(0.1, 0.9, 1e-6, u64::MAX));
        assert_eq!((rate, mults), (1e-6, 111));
        // With no floor the rate sinks into the subnormals, where rounding holds it at a
        // fixed point after about 7,000 decays; it stops there.
        let (rate, mults) = multiplications(|| decay(0.1, 0.9, 0.0, 1 << 40));
        assert_eq!(rate.to_bits(), mxnet(0.1, 0.9, 0.0, 100_000).to_bits());
        assert!(rate < 1e-320 && mults < 8000, "{rate:e} after {mults}");
        // A factor of 1 is a fixed point at once.
        assert_eq!(multiplications(|| decay(0.3, 1.0, 1e-8, 1 << 50)), (0.3, 1));
    }

    #[test]
    fn far_floors_are_computed_at_once_past_the_exact_decays() {
        let (factor, rate) = (1.0 - 1e-9, 0.1);
        let (got, mults) = multiplications(|| decay(rate, factor, 1e-8, 10_000_000_000));
        assert_eq!((got, mults), (rate * factor.powf(1e10), 0));
        // Where both the jump and the floor lie beyond the exact decays, the one-step value
        // stays within 1e-12 of MXNet's loop, relatively, for these factors (measured up to
        // 2^24 decays). The loop rounds k times, so in general the two differ by up to about
        // k * 2^-53: a factor as close to 1 as 1 - 1e-12 reaches 1.2e-10 at 2^21 decays.
        let k = 1u64 << 21;
        let (got, loop_value) = (decay(rate, 1.0 - 1e-12, 0.0, k), mxnet(rate, 1.0 - 1e-12, 0.0, k));
        assert!(((got - loop_value) / loop_value).abs() <= k as f64 * f64::EPSILON / 2.0);
        for factor in [1.0 - 1e-9, 1.0 - 1e-7, 0.999_999_9, 1.0 - 3e-8] {
            for k in [EXACT_DECAYS + 1, 1 << 22, 1 << 24] {
                let (got, mults) = multiplications(|| decay(rate, factor, 1e-12, k));
                assert_eq!(mults, 0);
                let loop_value = mxnet(rate, factor, 1e-12, k);
                let relative = ((got - loop_value) / loop_value).abs();
                assert!(relative <= 1e-12, "factor {factor}, {k} decays: {relative:e}");
            }
        }
    }
}
