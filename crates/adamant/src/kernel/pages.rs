//! Transparent huge pages for large arrays. A lazy row-sparse step touches rows scattered over
//! tables of gigabytes: with 4 KiB pages nearly every row is a TLB miss, and a table eight
//! times larger costs half again as much per step. Backed by 2 MiB pages, the same step costs
//! the same on both. Linux grants them to memory that asks (`MADV_HUGEPAGE`) when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`; elsewhere this does
//! nothing.

/// The size of a huge page: arrays smaller than this cannot use one.
pub const HUGE_PAGE: usize = 2 << 20;

/// Asks the system to back `data` with transparent huge pages, best before its pages are first
/// touched (a fresh `vec![0; n]` is not). The contents do not change. Returns whether the
/// advice was taken: false for arrays under [`HUGE_PAGE`] bytes, off Linux, or where the system
/// refuses.
///
/// ```
/// let mut table = vec![0f32; 1 << 20];
/// let granted = adamant::advise_huge_pages(&mut table);
/// # let _ = granted;
/// assert!(!adamant::advise_huge_pages(&mut [0f32; 16]));
/// ```
pub fn advise_huge_pages<T>(data: &mut [T]) -> bool {
    const PAGE: usize = 4096;
    let start = data.as_mut_ptr() as usize;
    let end = start.saturating_add(std::mem::size_of_val(data));
    // The whole pages inside the array: advice applies to pages, and those at its edges may
    // hold other allocations.
    let (first, last) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
    if last <= first || last - first < HUGE_PAGE {
        return false;
    }
    advise(first, last - first)
}

#[cfg(target_os = "linux")]
fn advise(start: usize, len: usize) -> bool {
    // SAFETY: [start, start + len) is whole pages inside an array the caller holds mutably, so
    // no other code is using them; MADV_HUGEPAGE only changes how the kernel backs those pages
    // (contents, addresses and permissions stay as they are), so no Rust reference is affected.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: usize, _len: usize) -> bool {
    false
}
