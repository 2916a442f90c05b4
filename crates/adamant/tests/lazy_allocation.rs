//! The lazy row-sparse step costs memory in proportion to the rows it touches, not to the table:
//! the same 4,096-row step on a 1,000,000 x 64 and on an 8,000,000 x 64 float32 table allocates
//! the same, small number of bytes.
//!
//! The tables are allocated zeroed (`vec![0.0; n]` asks the system for zeroed pages), so only
//! the pages of touched rows ever become resident: the test needs little real memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use adamant::{Param, Updater};
use serde_json::json;

/// Counts the bytes allocated while `COUNTING` is set.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static BYTES: AtomicUsize = AtomicUsize::new(0);

fn count(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        BYTES.fetch_add(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the caller's own arguments, so
// the GlobalAlloc contract is the system allocator's; counting only reads `layout`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const ROW_LEN: usize = 64;
const LISTED: usize = 4096;

/// 4,096 row indices below 1,000,000, unsorted, with repeats (every 16th entry repeats one).
fn listed_rows() -> Vec<i64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..LISTED)
        .map(|i| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            if i % 16 == 15 {
                (i as i64 * 37) % 1000
            } else {
                ((state >> 33) % 1_000_000) as i64
            }
        })
        .collect()
}

/// Bytes allocated by the second lazy step on a table of `rows` rows (the first creates state).
fn bytes_of_a_lazy_step(rows: usize) -> usize {
    let mut updater = Updater::new(adamant::create("adam", &json!({"lazy_update": true})).unwrap());
    let mut table = vec![0.0f32; rows * ROW_LEN];
    let shape = [rows, ROW_LEN];
    let indices = listed_rows();
    let values: Vec<f32> = (0..LISTED * ROW_LEN).map(|i| (i % 97) as f32 * 0.01 - 0.5).collect();
    updater.update(&mut [Param::row_sparse(0, &shape, &mut table, &indices, &values)]).unwrap();

    BYTES.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    updater.update(&mut [Param::row_sparse(0, &shape, &mut table, &indices, &values)]).unwrap();
    COUNTING.store(false, Ordering::SeqCst);
    assert_ne!(table[indices[0] as usize * ROW_LEN], 0.0, "the listed rows moved");
    BYTES.load(Ordering::SeqCst)
}

#[test]
fn lazy_step_allocates_for_the_rows_touched_not_the_table() {
    let small = bytes_of_a_lazy_step(1_000_000);
    let large = bytes_of_a_lazy_step(8_000_000);
    eprintln!("lazy step bytes allocated: 1M rows {small}, 8M rows {large}");
    // The values block itself is 4096 * 64 * 4 = 1 MiB; bookkeeping may not exceed it.
    let bound = LISTED * ROW_LEN * std::mem::size_of::<f32>();
    assert!(small <= bound, "{small} bytes allocated for a 4,096-row step (bound {bound})");
    assert_eq!(small, large, "the 8M-row table costs more than the 1M-row one");
}
