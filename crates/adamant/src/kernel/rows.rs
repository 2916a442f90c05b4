//! Row-sparse gradients: coalescing repeated rows, and the lazy and standard row loops.

use std::ops::Range;

use super::element::Element;
use super::target::Target;
use super::Loop;

/// Where a coalesced row's gradient lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    /// Row `i` of the caller's values block (the row was listed once).
    Given(usize),
    /// The rows at `order[start..end]`, to be summed in that order (the row was listed
    /// repeatedly).
    Repeated(usize, usize),
}

/// The rows of a row-sparse gradient, each once, in increasing order; a row listed several
/// times has its values summed in the order they appear (`((a + b) + c)`), so the result is the
/// same for every thread count and for any reordering that keeps repeats in their order.
///
/// Memory is proportional to the listed rows (two words per entry); repeated rows are summed
/// into a one-row scratch buffer when they are used, by whichever thread updates them. Sorted,
/// unique indices (the common case) need no sort.
#[derive(Debug)]
pub struct CoalescedRows<'a, T> {
    values: &'a [T],
    row_len: usize,
    /// Positions in `values`, ordered by row (repeats in order of appearance).
    order: Vec<usize>,
    rows: Vec<(usize, Source)>,
}

impl<'a, T: Element> CoalescedRows<'a, T> {
    /// Coalesces `indices` (each in `0..rows`, checked by the caller) with their `values`
    /// (`indices.len() * row_len` elements).
    pub fn new(indices: &[i64], values: &'a [T], row_len: usize) -> Self {
        debug_assert!(indices.iter().all(|&r| r >= 0) && values.len() == indices.len() * row_len);
        let order = sorted_order(indices);
        let mut rows = Vec::with_capacity(order.len());
        let mut start = 0;
        while start < order.len() {
            let row = indices[order[start]];
            let end = start + order[start..].iter().take_while(|&&i| indices[i] == row).count();
            let source =
                if end - start == 1 { Source::Given(order[start]) } else { Source::Repeated(start, end) };
            rows.push((row as usize, source));
            start = end;
        }
        CoalescedRows { values, row_len, order, rows }
    }

    /// Calls `f` with each distinct row and its (summed) gradient, in increasing row order.
    pub fn for_each(&self, mut f: impl FnMut(usize, &[T])) {
        let mut scratch = self.scratch();
        for &(row, source) in &self.rows {
            f(row, self.grad(source, &mut scratch));
        }
    }

    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// The distinct rows and where their gradients are, in increasing row order.
    pub(crate) fn entries(&self) -> &[(usize, Source)] {
        &self.rows
    }

    /// A buffer for [`CoalescedRows::grad`] to sum repeated rows into. It allocates when a
    /// repeated row needs it, and then a row's worth, which the values block holds twice over
    /// (a row's length alone may be huge when the weight has no elements).
    pub(crate) fn scratch(&self) -> Vec<T> {
        Vec::new()
    }

    /// The gradient row at `source`: the caller's row, or repeated rows summed into `scratch`.
    pub(crate) fn grad<'s>(&'s self, source: Source, scratch: &'s mut Vec<T>) -> &'s [T] {
        let given = |i: usize| &self.values[i * self.row_len..(i + 1) * self.row_len];
        match source {
            Source::Given(i) => given(i),
            Source::Repeated(start, end) => {
                scratch.clear();
                scratch.extend_from_slice(given(self.order[start]));
                for &i in &self.order[start + 1..end] {
                    scratch.iter_mut().zip(given(i)).for_each(|(acc, &x)| *acc = *acc + x);
                }
                scratch
            }
        }
    }

    fn span(&self, row: usize) -> Range<usize> {
        row * self.row_len..(row + 1) * self.row_len
    }
}

/// Positions `0..indices.len()` ordered by row, equal rows in their order of appearance (which
/// fixes the summation order of repeats).
fn sorted_order(indices: &[i64]) -> Vec<usize> {
    let n = indices.len();
    if indices.windows(2).all(|p| p[0] < p[1]) {
        return (0..n).collect();
    }
    // An unstable sort of (row, position) is the stable sort by row, and much cheaper than
    // comparing through the indices; packed into one u64 when both fit.
    let max_row = indices.iter().copied().max().unwrap_or(0) as u64;
    if n < 1 << 24 && max_row < 1 << 40 {
        let mut keys: Vec<u64> =
            indices.iter().enumerate().map(|(i, &r)| (r as u64) << 24 | i as u64).collect();
        keys.sort_unstable();
        keys.iter().map(|k| (k & 0xff_ffff) as usize).collect()
    } else {
        let mut keys: Vec<(i64, usize)> = indices.iter().copied().zip(0..).collect();
        keys.sort_unstable();
        keys.iter().map(|&(_, i)| i).collect()
    }
}

/// The lazy update: only the listed rows change, each by the dense formula with its gradient
/// row. Work is proportional to the listed rows.
pub fn lazy<G: Element>(target: &mut impl Target<G>, rows: &CoalescedRows<'_, G>, l: Loop) {
    rows.for_each(|row, g| target.update(rows.span(row), g, l));
}

/// The standard update: every row changes; rows that are not listed get a zero gradient, so the
/// result is bit-identical to the dense update on the densified gradient.
pub fn standard<G: Element>(target: &mut impl Target<G>, rows: &CoalescedRows<'_, G>, l: Loop) {
    // No elements (a zero dimension): nothing to update, however many rows the shape has.
    if target.len() == 0 {
        return;
    }
    let zeros = vec![G::ZERO; rows.row_len];
    let total_rows = target.len().checked_div(rows.row_len).unwrap_or(0);
    let mut next = 0;
    for row in rows.entries().iter().map(|&(row, _)| row).chain([total_rows]) {
        for zero_row in next..row {
            target.update(rows.span(zero_row), &zeros, l);
        }
        next = row + 1;
    }
    lazy(target, rows, l);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coalesced(indices: &[i64], values: &[f32], row_len: usize) -> Vec<(usize, Vec<f32>)> {
        let mut got = Vec::new();
        CoalescedRows::new(indices, values, row_len).for_each(|row, g| got.push((row, g.to_vec())));
        got
    }

    #[test]
    fn repeated_rows_are_summed_in_order_of_appearance() {
        // In float32, (1e8 + -1e8) + 1 = 1 but 1e8 + (-1e8 + 1) = 0: the order is observable.
        assert_eq!(coalesced(&[3, 3, 3], &[1e8, -1e8, 1.0], 1), [(3, vec![1.0])]);
        assert_eq!(coalesced(&[3, 0, 3, 3], &[1e8, 7.0, -1e8, 1.0], 1), [(0, vec![7.0]), (3, vec![1.0])]);
    }

    #[test]
    fn rows_come_out_sorted_and_once() {
        let values = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let rows = CoalescedRows::new(&[4, 1, 9], &values, 2);
        assert_eq!(rows.entries().iter().map(|&(r, _)| r).collect::<Vec<_>>(), [1, 4, 9]);
        assert!(rows.entries().iter().all(|(_, s)| matches!(s, Source::Given(_))));
    }

    #[test]
    fn huge_row_indices_sort_without_packing() {
        let rows = CoalescedRows::new(&[1 << 50, 3, 1 << 50], &[1.0f32, 2.0, 4.0], 1);
        let mut got = Vec::new();
        rows.for_each(|row, g| got.push((row, g[0])));
        assert_eq!(got, [(3, 2.0), (1 << 50, 5.0)]);
    }
}
