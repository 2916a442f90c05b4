//! Buffers kept from one step to the next, so that a steady-state step allocates nothing: the
//! row lists of row-sparse gradients, LAMB's per-tensor direction. Before its parallel pass a
//! batch fits the spare buffers to what its steps will hold at once ([`Spare::fit`]: one buffer
//! per need, the rest freed), which allocates only when it needs more than the batch before;
//! during the pass a step takes the smallest spare buffer that holds its need and gives it
//! back. Memory is what the latest batch needed; [`release_all`] frees it (an `Updater` does
//! when it is dropped).

use std::sync::Mutex;

/// Spare buffers of one kind, smallest first.
pub(crate) struct Spare<T>(Mutex<Vec<T>>);

/// The most buffers given back beyond those a batch fitted (steps outside a batch, such as the
/// global norm's, take and give back too).
const KEPT: usize = 4096;

/// A buffer far larger than its need (this many times, and over [`SHRINK_ABOVE`] elements) is
/// shrunk to it when a batch fits the buffers: a large batch's memory does not outlive it.
const SHRINK_FACTOR: usize = 16;
const SHRINK_ABOVE: usize = 1 << 20;

/// A buffer a [`Spare`] can keep: emptied when taken, ranked by what it can hold.
pub(crate) trait Reusable: Default {
    /// Elements it holds without allocating.
    fn capacity(&self) -> usize;
    /// Empties it, keeping its allocation.
    fn clear(&mut self);
    /// Makes room for `len` elements in it, empty.
    fn reserve(&mut self, len: usize);
    /// Gives back what it holds beyond `len` elements, empty.
    fn shrink_to(&mut self, len: usize);
}

impl<T> Reusable for Vec<T> {
    fn capacity(&self) -> usize {
        Vec::capacity(self)
    }
    fn clear(&mut self) {
        Vec::clear(self)
    }
    fn reserve(&mut self, len: usize) {
        Vec::reserve(self, len)
    }
    fn shrink_to(&mut self, len: usize) {
        Vec::clear(self);
        Vec::shrink_to(self, len)
    }
}

impl<T: Reusable> Spare<T> {
    pub(crate) const fn new() -> Self {
        Spare(Mutex::new(Vec::new()))
    }

    /// Fits the spare buffers to `needs` (elements each, any order; sorted in place): one
    /// buffer per need. Nothing is allocated when they fit already (the largest buffers, one
    /// per need, the k-th smallest of them holding the k-th smallest need and not far larger;
    /// the others are freed); otherwise each need, largest first, gets
    /// the smallest spare buffer that holds it (grown when none does, new when none is left),
    /// buffers no need took are freed, and one far larger than its need is shrunk. Call it
    /// with no buffer taken.
    pub(crate) fn fit(&self, needs: &mut [usize]) {
        let Ok(mut spare) = self.0.lock() else { return };
        needs.sort_unstable();
        let oversized = |b: &T, need: usize| {
            b.capacity() > need.saturating_mul(SHRINK_FACTOR) && b.capacity() > SHRINK_ABOVE
        };
        let fits = |(b, &need): (&T, &usize)| b.capacity() >= need && !oversized(b, need);
        // The largest buffers serve the needs; the rest, if any, are freed.
        let extra = spare.len().saturating_sub(needs.len());
        if spare.len() >= needs.len() && spare[extra..].iter().zip(needs.iter()).all(fits) {
            spare.drain(..extra);
            return;
        }
        let mut fitted = Vec::with_capacity(needs.len());
        for &need in needs.iter().rev() {
            let mut buffer = best_fit(&mut spare, need).unwrap_or_default();
            if oversized(&buffer, need) {
                buffer.shrink_to(need);
            }
            if buffer.capacity() < need {
                buffer.clear();
                buffer.reserve(need);
            }
            fitted.push(buffer);
        }
        fitted.sort_unstable_by_key(Reusable::capacity);
        *spare = fitted;
    }

    /// The smallest spare buffer that holds `need` elements (else the largest, else a new one),
    /// emptied.
    pub(crate) fn take(&self, need: usize) -> T {
        let taken = self.0.lock().ok().and_then(|mut spare| best_fit(&mut spare, need));
        let mut buffer = taken.unwrap_or_default();
        buffer.clear();
        buffer
    }

    /// Frees every spare buffer.
    pub(crate) fn release(&self) {
        if let Ok(mut spare) = self.0.lock() {
            *spare = Vec::new();
        }
    }

    /// Keeps `buffer` for a later step.
    pub(crate) fn give_back(&self, buffer: T) {
        if let Ok(mut spare) = self.0.lock() {
            if spare.len() < KEPT {
                let at = spare.partition_point(|b| b.capacity() <= buffer.capacity());
                spare.insert(at, buffer);
            }
        }
    }
}

/// Removes from `spare` (smallest first) the smallest buffer that holds `need` elements, else
/// the largest; `None` when it is empty.
fn best_fit<T: Reusable>(spare: &mut Vec<T>, need: usize) -> Option<T> {
    let last = spare.len().checked_sub(1)?;
    let at = spare.partition_point(|b| b.capacity() < need).min(last);
    Some(spare.remove(at))
}

/// Frees every spare buffer of every kind (the next step allocates its own again).
pub(crate) fn release_all() {
    super::rows::release_spare();
    crate::optimizer::lamb::release_spare();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacities(spare: &Spare<Vec<u8>>) -> Vec<usize> {
        spare.0.lock().unwrap().iter().map(Vec::capacity).collect()
    }

    #[test]
    fn a_batch_gets_one_buffer_per_need_not_one_per_need_of_the_largest() {
        let spare = Spare::<Vec<u8>>::new();
        let mut needs = vec![1; 63];
        needs.push(1 << 20);
        spare.fit(&mut needs);
        let held: usize = capacities(&spare).iter().sum();
        assert!(held < (1 << 20) + 64 * 16, "{held} bytes held for 2^20 + 63 needed");
        // A batch of one large need after many small ones keeps one buffer.
        spare.fit(&mut [1 << 22]);
        assert_eq!(capacities(&spare).len(), 1);
        // A far smaller batch gives the memory back.
        spare.fit(&mut [100]);
        assert!(capacities(&spare)[0] < 1 << 20, "{:?}", capacities(&spare));
        spare.release();
        assert!(capacities(&spare).is_empty());
    }

    #[test]
    fn a_batch_no_larger_than_the_last_is_served_without_allocating_and_by_best_fit() {
        let spare = Spare::<Vec<u8>>::new();
        spare.fit(&mut [10, 1000, 100]);
        let before = capacities(&spare);
        spare.fit(&mut [900, 5]);
        // The two largest serve, the smallest is freed; none is reallocated.
        assert_eq!(capacities(&spare), before[1..]);
        // Each take gets the smallest buffer that holds its need.
        let small = spare.take(50);
        let large = spare.take(500);
        assert_eq!((small.capacity(), large.capacity()), (before[1], before[2]));
    }
}
