//! Buffers kept from one step to the next, so that a steady-state step allocates nothing: the
//! row lists of row-sparse gradients, LAMB's per-tensor direction. Before its parallel pass a
//! batch makes sure there are as many spare buffers as it can hold at once, each as large as
//! its largest need ([`Spare::ensure`], which allocates only when the batch needs more than
//! the batches before it); during the pass a tensor takes the largest and gives it back.

use std::sync::Mutex;

/// Spare buffers of one kind, smallest first; at most [`KEPT`].
pub(crate) struct Spare<T>(Mutex<Vec<T>>);

/// More buffers than a machine's threads hold at once.
const KEPT: usize = 256;

/// A buffer a [`Spare`] can keep: emptied when taken, ranked by what it can hold.
pub(crate) trait Reusable: Default {
    /// Elements it holds without allocating.
    fn capacity(&self) -> usize;
    /// Empties it, keeping its allocation.
    fn clear(&mut self);
    /// Makes room for `len` elements in it, empty.
    fn reserve(&mut self, len: usize);
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
}

impl<T: Reusable> Spare<T> {
    pub(crate) const fn new() -> Self {
        Spare(Mutex::new(Vec::new()))
    }

    /// Makes sure there are at least `count` spare buffers (at most [`KEPT`]), each with room
    /// for `len` elements. Call it with no buffer taken.
    pub(crate) fn ensure(&self, count: usize, len: usize) {
        if let Ok(mut spare) = self.0.lock() {
            let missing = count.min(KEPT).saturating_sub(spare.len());
            spare.extend(std::iter::repeat_with(T::default).take(missing));
            for buffer in spare.iter_mut().filter(|b| b.capacity() < len) {
                buffer.clear();
                buffer.reserve(len);
            }
        }
    }

    /// The largest spare buffer, emptied (a new one when there is none).
    pub(crate) fn take(&self) -> T {
        let mut buffer = self.0.lock().ok().and_then(|mut spare| spare.pop()).unwrap_or_default();
        buffer.clear();
        buffer
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
