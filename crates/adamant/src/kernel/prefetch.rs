//! Asking the CPU to fetch memory ahead of use. A lazy row-sparse step visits rows in random
//! places of a large table, each a cache and TLB miss that the hardware cannot predict. A
//! dense step streams, which the hardware does predict, but its square roots and divisions
//! keep so few loads in flight that it falls behind the memory bus unless it asks ahead.

/// Starts loading `data` (its first 2 KiB at most) into the cache, without waiting. A hint.
#[inline(always)]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let (start, bytes) = (data.as_ptr().cast::<i8>(), std::mem::size_of_val(data).min(2048));
        for offset in (0..bytes).step_by(64) {
            // SAFETY: a prefetch is a hint: it never faults and changes nothing observable; the
            // address is inside `data` in any case.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Starts loading the cache lines of `count` elements of an array from element `at` on, where
/// `array` points at the array's first element. A hint: the addresses are computed with
/// wrapping arithmetic and never dereferenced, so they may lie past the array's end.
#[inline(always)]
pub fn prefetch_at<T>(array: *const T, at: usize, count: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = array.wrapping_add(at).cast::<i8>();
        for offset in (0..count * std::mem::size_of::<T>()).step_by(64) {
            // SAFETY: a prefetch is a hint: it never faults and changes nothing observable,
            // whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (array, at, count);
}
