//! Asking the CPU to fetch memory ahead of use: a lazy row-sparse step visits rows in random
//! places of a large table, each a cache and TLB miss that the hardware cannot predict.

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
