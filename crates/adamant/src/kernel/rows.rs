//! Row-sparse gradients: coalescing repeated rows, and the lazy and standard row loops.

use std::ops::Range;

use super::storage::Stored;
use super::target::Target;
use super::Loop;

/// Where a coalesced row's gradient lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    /// Row `i` of the caller's values block (the row was listed once).
    Given(usize),
    /// The row starting at this offset of the summed block (the row was listed repeatedly).
    Summed(usize),
}

/// The rows of a row-sparse gradient, each once, in increasing order; a row listed several
/// times has its values summed in the order they appear (`((a + b) + c)`), so the result is the
/// same for every thread count and for any reordering that keeps repeats in their order.
///
/// Memory is proportional to the listed rows: one entry per listed row, plus one summed row per
/// repeated row. Sorted, unique indices (the common case) need no summing and no sort.
///
/// ```
/// use adamant::kernel::CoalescedRows;
/// let values = [1.0f32, 1.0, 2.0, 2.0, 4.0, 4.0];
/// let rows = CoalescedRows::new(&[5, 2, 5], &values, 2);
/// let got: Vec<(usize, Vec<f32>)> = rows.iter().map(|(r, g)| (r, g.to_vec())).collect();
/// assert_eq!(got, [(2, vec![2.0, 2.0]), (5, vec![5.0, 5.0])]);
/// ```
#[derive(Debug)]
pub struct CoalescedRows<'a, T> {
    values: &'a [T],
    row_len: usize,
    rows: Vec<(usize, Source)>,
    summed: Vec<T>,
}

impl<'a, T: Stored> CoalescedRows<'a, T> {
    /// Coalesces `indices` (each in `0..rows`, checked by the caller) with their `values`
    /// (`indices.len() * row_len` elements).
    pub fn new(indices: &[i64], values: &'a [T], row_len: usize) -> Self {
        debug_assert!(indices.iter().all(|&r| r >= 0) && values.len() == indices.len() * row_len);
        let mut order: Vec<usize> = (0..indices.len()).collect();
        if !indices.windows(2).all(|p| p[0] < p[1]) {
            // Stable: equal rows keep their order of appearance, which fixes the summation order.
            order.sort_by_key(|&i| indices[i]);
        }
        let given = |i: usize| &values[i * row_len..(i + 1) * row_len];
        let mut rows = Vec::with_capacity(order.len());
        let mut summed: Vec<T> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let row = indices[order[start]];
            let end = start + order[start..].iter().take_while(|&&i| indices[i] == row).count();
            let source = if end - start == 1 {
                Source::Given(order[start])
            } else {
                let offset = summed.len();
                summed.extend_from_slice(given(order[start]));
                for &i in &order[start + 1..end] {
                    for (acc, &x) in summed[offset..].iter_mut().zip(given(i)) {
                        *acc = *acc + x;
                    }
                }
                Source::Summed(offset)
            };
            rows.push((row as usize, source));
            start = end;
        }
        CoalescedRows { values, row_len, rows, summed }
    }

    /// The number of distinct rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is listed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Each distinct row with its (summed) gradient, in increasing row order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[T])> + '_ {
        self.rows.iter().map(move |&(row, source)| (row, self.grad(source)))
    }

    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// The distinct rows and where their gradients are, in increasing row order.
    pub(crate) fn entries(&self) -> &[(usize, Source)] {
        &self.rows
    }

    /// The gradient row at `source`.
    pub(crate) fn grad(&self, source: Source) -> &[T] {
        match source {
            Source::Given(i) => &self.values[i * self.row_len..(i + 1) * self.row_len],
            Source::Summed(offset) => &self.summed[offset..offset + self.row_len],
        }
    }

    fn span(&self, row: usize) -> Range<usize> {
        row * self.row_len..(row + 1) * self.row_len
    }
}

/// The lazy update: only the listed rows change, each by the dense formula with its gradient
/// row. Work is proportional to the listed rows.
pub fn lazy<G: Stored>(target: &mut impl Target<G>, rows: &CoalescedRows<'_, G>, l: Loop) {
    for (row, g) in rows.iter() {
        target.update(rows.span(row), g, l);
    }
}

/// The standard update: every row changes; rows that are not listed get a zero gradient, so the
/// result is bit-identical to the dense update on the densified gradient.
pub fn standard<G: Stored>(target: &mut impl Target<G>, rows: &CoalescedRows<'_, G>, l: Loop) {
    let zeros = vec![G::ZERO; rows.row_len];
    let total_rows = target.len().checked_div(rows.row_len).unwrap_or(0);
    let mut next = 0;
    for row in rows.iter().map(|(row, _)| row).chain([total_rows]) {
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

    #[test]
    fn repeated_rows_are_summed_in_order_of_appearance() {
        // In float32, (1e8 + -1e8) + 1 = 1 but 1e8 + (-1e8 + 1) = 0: the order is observable.
        let values = [1e8f32, -1e8, 1.0];
        let rows = CoalescedRows::new(&[3, 3, 3], &values, 1);
        assert_eq!(rows.iter().collect::<Vec<_>>(), [(3, &[1.0f32][..])]);
        let values = [1e8f32, 7.0, -1e8, 1.0];
        let rows = CoalescedRows::new(&[3, 0, 3, 3], &values, 1);
        assert_eq!(rows.iter().collect::<Vec<_>>(), [(0, &[7.0f32][..]), (3, &[1.0][..])]);
    }

    #[test]
    fn sorted_unique_rows_are_used_in_place() {
        let values = [1.0f64, 2.0, 3.0, 4.0];
        let rows = CoalescedRows::new(&[1, 4], &values, 2);
        assert!(rows.summed.is_empty());
        assert_eq!(rows.iter().map(|(r, _)| r).collect::<Vec<_>>(), [1, 4]);
    }
}
