//! Sharing one tensor's update between threads: split the target in two at a cache-line
//! boundary, run the halves with `rayon::join`, until a piece is small. Elements are
//! independent, so the result is the same bits for every thread count and every split.

use std::sync::atomic::{AtomicBool, Ordering};

use super::element::Element;
use super::rows::{CoalescedRows, Source};
use super::target::Target;
use super::Loop;

/// Pieces smaller than this many elements are not split further (64 KiB per float32 array).
pub const GRAIN: usize = 16 * 1024;

/// Rows asked for between two looks at whether the sort has ended.
const FETCH_CHECK: usize = 4;

/// How many rows ahead a lazy update prefetches.
const PREFETCH_AHEAD: usize = 4;

/// A split point near `at` at which the weight's element starts a 64-byte cache line, so that
/// two threads never write the same line of the weight.
fn aligned<G: Element, T: Target<G>>(target: &T, at: usize) -> usize {
    let size = std::mem::size_of::<G>();
    let per_line = (64 / size).max(1);
    let first = target.weight_ptr().align_offset(64) / size;
    if first >= at || first >= target.len() {
        return at;
    }
    first + (at - first) / per_line * per_line
}

/// The dense update of all of `target` with gradient `g`.
pub fn dense<G: Element, T: Target<G>>(mut target: T, g: &[G], l: Loop) {
    let n = target.len();
    let mid = if n <= GRAIN { 0 } else { aligned(&target, n / 2) };
    if mid == 0 || mid >= n {
        return target.update(0..n, g, l);
    }
    let (a, b) = target.split_at(mid);
    let (ga, gb) = g.split_at(mid);
    rayon::join(|| dense(a, ga, l), || dense(b, gb, l));
}

/// Coalesces `indices` (each a row of `target`, checked by the caller) with their gradient
/// rows `g`, while another thread asks for the listed rows of `target`: sorting the ids is
/// sequential, and a lazy update waits on scattered rows of a large table, so the rows come
/// into the shared cache while the sort runs. Fetching stops when the sort ends; on one
/// thread it does not start.
pub fn coalesce_fetching<'a, G: Element, T: Target<G>>(
    target: &T,
    indices: &[i64],
    g: &'a [G],
    row_len: usize,
) -> CoalescedRows<'a, G> {
    let sorted = AtomicBool::new(false);
    let (rows, ()) = rayon::join(
        || {
            let rows = CoalescedRows::new(indices, g, row_len);
            sorted.store(true, Ordering::Relaxed);
            rows
        },
        || {
            for ids in indices.chunks(FETCH_CHECK) {
                if sorted.load(Ordering::Relaxed) {
                    return;
                }
                for &row in ids {
                    let row = row as usize;
                    target.prefetch(row * row_len..(row + 1) * row_len);
                }
            }
        },
    );
    rows
}

/// The lazy update of `target` with `rows`: only the listed rows change.
pub fn lazy<G: Element, T: Target<G>>(target: T, rows: &CoalescedRows<'_, G>, l: Loop) {
    lazy_rows(target, rows, rows.entries(), 0, l)
}

/// The standard update of `target` with `rows`: every row changes, unlisted ones with a zero
/// gradient.
pub fn standard<G: Element, T: Target<G>>(target: T, rows: &CoalescedRows<'_, G>, l: Loop) {
    // No elements (a zero dimension): nothing to update, however many rows the shape has.
    if target.len() == 0 {
        return;
    }
    standard_rows(target, rows, rows.entries(), 0, l)
}

/// The lazy update: only the rows in `entries` (sorted, distinct, each `>= first_row`) change;
/// `target` starts at row `first_row`.
fn lazy_rows<G: Element, T: Target<G>>(
    mut target: T,
    rows: &CoalescedRows<'_, G>,
    entries: &[(usize, Source)],
    first_row: usize,
    l: Loop,
) {
    let row_len = rows.row_len();
    if entries.len() * row_len <= GRAIN || entries.len() < 2 {
        let span = |row: usize| (row - first_row) * row_len..(row - first_row + 1) * row_len;
        for (i, &(row, source)) in entries.iter().enumerate() {
            // Rows are scattered over the table: ask for one a few rows ahead of its update.
            if let Some(&(ahead, _)) = entries.get(i + PREFETCH_AHEAD) {
                target.prefetch(span(ahead));
            }
            rows.update_row(&mut target, row, first_row, source, l);
        }
        return;
    }
    let (left, right) = entries.split_at(entries.len() / 2);
    let split_row = right[0].0;
    let (a, b) = target.split_at((split_row - first_row) * row_len);
    rayon::join(|| lazy_rows(a, rows, left, first_row, l), || lazy_rows(b, rows, right, split_row, l));
}

/// The standard update: every row of `target` (which starts at row `first_row`) changes;
/// rows in `entries` with their gradient, the others with a zero gradient.
fn standard_rows<G: Element, T: Target<G>>(
    mut target: T,
    rows: &CoalescedRows<'_, G>,
    entries: &[(usize, Source)],
    first_row: usize,
    l: Loop,
) {
    let row_len = rows.row_len();
    let n = target.len();
    let row_count = n.checked_div(row_len).unwrap_or(0);
    let mid_row = aligned(&target, n / 2) / row_len.max(1);
    if n <= GRAIN || mid_row == 0 || mid_row >= row_count {
        let (mut next, zeros) = (0, G::zeros());
        let ends = entries.iter().map(|&(row, _)| row - first_row).chain([row_count]);
        for (end, entry) in ends.zip(entries.iter().map(Some).chain([None])) {
            // Rows next..end are not listed: zero gradient, GRAIN elements at a time.
            let mut start = next * row_len;
            while start < end * row_len {
                let stop = (start + zeros.len()).min(end * row_len);
                target.update(start..stop, &zeros[..stop - start], l);
                start = stop;
            }
            if let Some(&(row, source)) = entry {
                rows.update_row(&mut target, row, first_row, source, l);
            }
            next = end + 1;
        }
        return;
    }
    let split = entries.partition_point(|&(row, _)| row < first_row + mid_row);
    let (left, right) = entries.split_at(split);
    let (a, b) = target.split_at(mid_row * row_len);
    rayon::join(
        || standard_rows(a, rows, left, first_row, l),
        || standard_rows(b, rows, right, first_row + mid_row, l),
    );
}
