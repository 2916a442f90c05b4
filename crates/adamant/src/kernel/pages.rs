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
    let bytes = std::mem::size_of_val(data);
    if bytes < HUGE_PAGE {
        return false;
    }
    let start = data.as_mut_ptr() as usize;
    // The pages that hold the array, its first and last partly filled ones included: the
    // advice then covers the whole mapping a large allocation has to itself, which the kernel
    // keeps as one mapping instead of splitting it in three (a process has at most 65,530).
    let first = start / PAGE * PAGE;
    let last = start.saturating_add(bytes).next_multiple_of(PAGE);
    advise(first, last - first)
}

#[cfg(target_os = "linux")]
fn advise(start: usize, len: usize) -> bool {
    // SAFETY: [start, start + len) is the pages that hold an array the caller holds, all of
    // them mapped (each holds some of its bytes). MADV_HUGEPAGE changes only how the kernel
    // backs pages: no byte, address or permission of them changes, so neither the array nor
    // any other allocation sharing its first or last page is affected.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: usize, _len: usize) -> bool {
    false
}
