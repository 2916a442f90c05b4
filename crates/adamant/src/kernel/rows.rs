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

/// Elements of a repeated row summed at a time, on the stack: the rules are element-wise, so a
/// row updated piece by piece gets the same bits.
const SUM_PIECE: usize = 256;

/// The rows of a row-sparse gradient, each once, in increasing order; a row listed several
/// times has its values summed in the order they appear (`((a + b) + c)`), so the result is the
/// same for every thread count and for any reordering that keeps repeats in their order.
///
/// Memory is proportional to the listed rows (two words per entry), in buffers kept from one
/// step to the next (`kernel::spare`); repeated rows are summed on the stack, a piece at a time,
/// when they are used. Sorted, unique indices (the common case) need no sort.
#[derive(Debug)]
pub struct CoalescedRows<'a, T> {
    values: &'a [T],
    row_len: usize,
    buffers: spare::Buffers,
}

impl<'a, T: Element> CoalescedRows<'a, T> {
    /// Coalesces `indices` (each in `0..rows`, checked by the caller) with their `values`
    /// (`indices.len() * row_len` elements).
    pub fn new(indices: &[i64], values: &'a [T], row_len: usize) -> Self {
        debug_assert!(indices.iter().all(|&r| r >= 0) && values.len() == indices.len() * row_len);
        let mut buffers = spare::SPARE.take(indices.len());
        coalesce(indices, &mut buffers);
        CoalescedRows { values, row_len, buffers }
    }

    /// Calls `f` with each distinct row and its (summed) gradient, in increasing row order.
    pub fn for_each(&self, mut f: impl FnMut(usize, &[T])) {
        let mut sum = Vec::new();
        for &(row, source) in self.entries() {
            match source {
                Source::Given(i) => f(row, self.given(i)),
                Source::Repeated(..) => {
                    sum.clear();
                    self.pieces(source, |piece, g| {
                        debug_assert_eq!(piece.start, sum.len());
                        sum.extend_from_slice(g)
                    });
                    f(row, &sum);
                }
            }
        }
    }

    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// The distinct rows and where their gradients are, in increasing row order.
    pub(crate) fn entries(&self) -> &[(usize, Source)] {
        &self.buffers.rows
    }

    /// Row `i` of the values block.
    fn given(&self, i: usize) -> &[T] {
        &self.values[i * self.row_len..(i + 1) * self.row_len]
    }

    /// Calls `f(piece, g)` for consecutive pieces of the gradient row at `source` (`piece`: the
    /// positions within the row): the caller's row whole, or repeated rows summed a piece at a
    /// time.
    pub(crate) fn pieces(&self, source: Source, mut f: impl FnMut(Range<usize>, &[T])) {
        match source {
            Source::Given(i) => f(0..self.row_len, self.given(i)),
            Source::Repeated(start, end) => {
                let order = &self.buffers.order[start..end];
                let mut sum = [T::ZERO; SUM_PIECE];
                let mut at = 0;
                while at < self.row_len {
                    let piece = at..(at + SUM_PIECE).min(self.row_len);
                    let sum = &mut sum[..piece.len()];
                    sum.copy_from_slice(&self.given(order[0])[piece.clone()]);
                    for &i in &order[1..] {
                        sum.iter_mut()
                            .zip(&self.given(i)[piece.clone()])
                            .for_each(|(acc, &x)| *acc = *acc + x);
                    }
                    at = piece.end;
                    f(piece, sum);
                }
            }
        }
    }

    /// Updates row `row` of `target` (whose first row is `first_row`) with its gradient at
    /// `source`.
    pub(crate) fn update_row(
        &self,
        target: &mut impl Target<T>,
        row: usize,
        first_row: usize,
        source: Source,
        l: Loop,
    ) {
        let start = (row - first_row) * self.row_len;
        self.pieces(source, |piece, g| target.update(start + piece.start..start + piece.end, g, l));
    }

    fn span(&self, row: usize) -> Range<usize> {
        row * self.row_len..(row + 1) * self.row_len
    }
}

impl<T> Drop for CoalescedRows<'_, T> {
    fn drop(&mut self) {
        spare::SPARE.give_back(std::mem::take(&mut self.buffers));
    }
}

/// Fits the spare row lists, before a batch's parallel pass, to its row-sparse gradients (all of
/// which may be coalesced at once): `listed` rows each.
pub(crate) fn reserve(listed: &mut [usize]) {
    spare::SPARE.fit(listed);
}

/// Frees the spare row lists.
pub(crate) fn release_spare() {
    spare::SPARE.release();
}

/// The buffers of coalesced rows, kept between steps ([`super::spare`]).
mod spare {
    use super::super::spare::{Reusable, Spare};
    use super::Source;

    /// What coalescing needs: positions ordered by row, the sort's keys and their other half,
    /// the distinct rows.
    #[derive(Debug, Default)]
    pub struct Buffers {
        pub order: Vec<usize>,
        pub keys: Vec<u64>,
        pub sorting: Vec<u64>,
        pub rows: Vec<(usize, Source)>,
    }

    impl Reusable for Buffers {
        fn capacity(&self) -> usize {
            let sorting = self.keys.capacity().min(self.sorting.capacity());
            self.order.capacity().min(sorting).min(self.rows.capacity())
        }
        fn clear(&mut self) {
            self.order.clear();
            self.keys.clear();
            self.sorting.clear();
            self.rows.clear();
        }
        fn reserve(&mut self, len: usize) {
            self.order.reserve(len);
            self.keys.reserve(len);
            self.sorting.reserve(len);
            self.rows.reserve(len);
        }
        fn shrink_to(&mut self, len: usize) {
            self.clear();
            self.order.shrink_to(len);
            self.keys.shrink_to(len);
            self.sorting.shrink_to(len);
            self.rows.shrink_to(len);
        }
    }

    pub static SPARE: Spare<Buffers> = Spare::new();
}

/// Pushes onto `rows` each distinct row of `order` (positions ordered by row; `row_at(i)` is
/// the row of `order[i]`) once, with where its gradient is. `run_starts` is scratch as long as
/// `order`. Half the runs of a Zipf-drawn list end after one id, at random: the runs are found
/// and written without a branch on where they end.
fn coalesce_runs(
    order: &[usize],
    run_starts: &mut [u64],
    rows: &mut Vec<(usize, Source)>,
    row_at: impl Fn(usize) -> u64,
) {
    let mut runs = 0;
    for i in 0..order.len() {
        run_starts[runs] = i as u64;
        runs += usize::from(i == 0 || row_at(i) != row_at(i - 1));
    }
    rows.extend((0..runs).map(|k| {
        let start = run_starts[k] as usize;
        let end = if k + 1 < runs { run_starts[k + 1] as usize } else { order.len() };
        let source =
            if end - start == 1 { Source::Given(order[start]) } else { Source::Repeated(start, end) };
        (row_at(start) as usize, source)
    }));
}

/// Fills `buffers.rows` with each distinct row once and where its gradient is. Ids out of order
/// also fill `buffers.order` with positions `0..indices.len()` ordered by row, equal rows in
/// their order of appearance (which fixes the summation order of repeats); increasing ids are
/// each their own row, and need no order.
fn coalesce(indices: &[i64], buffers: &mut spare::Buffers) {
    let spare::Buffers { order, keys, sorting, rows } = buffers;
    let (mut max_row, mut sorted, mut previous) = (0, true, -1);
    for &row in indices {
        (sorted, max_row, previous) = (sorted && previous < row, max_row.max(row), row);
    }
    if sorted {
        rows.extend(
            indices.iter().enumerate().map(|(position, &row)| (row as usize, Source::Given(position))),
        );
        return;
    }
    if u32::try_from(max_row).is_err() || u32::try_from(indices.len()).is_err() {
        // Beyond what a key packs (4G rows or listed ids): a comparison sort, by row and then
        // position so that it keeps repeats in order without the scratch a stable sort takes.
        order.extend(0..indices.len());
        order.sort_unstable_by_key(|&position| (indices[position], position));
        sorting.resize(indices.len(), 0);
        return coalesce_runs(order, sorting, rows, |i| indices[order[i]] as u64);
    }
    radix_sort_by_row(indices, max_row as u64, keys, sorting);
    order.extend(keys.iter().map(|&key| (key & u64::from(u32::MAX)) as usize));
    // The sort's keys hold each row beside its position, and its other half is free.
    coalesce_runs(order, sorting, rows, |i| keys[i] >> 32);
}

/// The most bits of the row sorted per pass: a pass counts into up to `2^MAX_RADIX_BITS`
/// buckets on the stack (16 KiB per pass, within the L1 cache).
const MAX_RADIX_BITS: u32 = 12;

/// The most passes: a row packed in a key has 32 bits.
const MAX_PASSES: usize = 32usize.div_ceil(MAX_RADIX_BITS as usize);

/// Fills `keys` with each of `indices` (rows up to `max_row`) as its row above its position,
/// sorted by row, keys of equal rows in order of appearance, and leaves as many words of
/// scratch in `other`: a least-significant-digit radix sort, as few passes as `max_row`'s
/// digits allow at [`MAX_RADIX_BITS`] bits each, the bits shared evenly between them (two
/// passes for a table of up to 16M rows). Each pass is a stable counting sort, so the order of
/// appearance survives; the buckets of every pass are counted in one read of the keys, and each
/// pass reads them once more, in order, where a comparison sort of 4,096 ids takes a good part
/// of a lazy step.
fn radix_sort_by_row(indices: &[i64], max_row: u64, keys: &mut Vec<u64>, other: &mut Vec<u64>) {
    // Row and position in one word: sorting the words by row alone, stably, leaves each row's
    // positions in increasing order, and no pass reads `indices` out of order.
    keys.extend(indices.iter().zip(0u64..).map(|(&row, position)| (row as u64) << 32 | position));
    other.clear();
    other.resize(keys.len(), 0);
    let bits = u64::BITS - max_row.leading_zeros();
    let passes = bits.div_ceil(MAX_RADIX_BITS);
    if passes == 0 {
        // Every row is 0: the keys are in order of appearance.
        return;
    }
    let digit_bits = bits.div_ceil(passes);
    match passes {
        1 => radix_passes::<1>(keys, other, digit_bits),
        2 => radix_passes::<2>(keys, other, digit_bits),
        _ => radix_passes::<MAX_PASSES>(keys, other, digit_bits),
    }
}

/// `P` passes of the radix sort of `keys`, `digit_bits` of the row each, lowest first; every
/// pass writes every place of `other`, then swaps it with `keys`. (`P` is known when compiled,
/// so that counting the buckets of every pass is one step of one loop.)
fn radix_passes<const P: usize>(keys: &mut Vec<u64>, other: &mut Vec<u64>, digit_bits: u32) {
    let mask = (1u64 << digit_bits) - 1;
    let digit = |key: u64, pass: usize| ((key >> (32 + pass as u32 * digit_bits)) & mask) as usize;
    let mut starts = [[0u32; 1 << MAX_RADIX_BITS]; P];
    for &key in keys.iter() {
        for (pass, starts) in starts.iter_mut().enumerate() {
            starts[digit(key, pass)] += 1;
        }
    }
    for (pass, starts) in starts.iter_mut().enumerate() {
        let mut total = 0;
        for start in starts[..=mask as usize].iter_mut() {
            (*start, total) = (total, total + *start);
        }
        for &key in keys.iter() {
            let bucket = &mut starts[digit(key, pass)];
            other[*bucket as usize] = key;
            *bucket += 1;
        }
        std::mem::swap(keys, other);
    }
}

/// The lazy update: only the listed rows change, each by the dense formula with its gradient
/// row. Work is proportional to the listed rows.
pub fn lazy<G: Element>(target: &mut impl Target<G>, rows: &CoalescedRows<'_, G>, l: Loop) {
    for &(row, source) in rows.entries() {
        rows.update_row(target, row, 0, source, l);
    }
}

/// The standard update: every row changes; rows that are not listed get a zero gradient, so the
/// result is bit-identical to the dense update on the densified gradient.
pub fn standard<G: Element>(target: &mut impl Target<G>, rows: &CoalescedRows<'_, G>, l: Loop) {
    // No elements (a zero dimension): nothing to update, however many rows the shape has.
    if target.len() == 0 {
        return;
    }
    let total_rows = target.len().checked_div(rows.row_len).unwrap_or(0);
    let mut next = 0;
    for &(row, source) in rows.entries().iter().chain([&(total_rows, Source::Given(0))]) {
        for zero_row in next..row {
            let span = rows.span(zero_row);
            let mut start = span.start;
            while start < span.end {
                let stop = (start + G::zeros().len()).min(span.end);
                target.update(start..stop, &G::zeros()[..stop - start], l);
                start = stop;
            }
        }
        if row < total_rows {
            rows.update_row(target, row, 0, source, l);
        }
        next = row + 1;
    }
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
    fn the_radix_sort_orders_by_row_and_keeps_repeats_in_order_for_every_digit_count() {
        for max_row in [0i64, 1, 2047, 2048, 4095, 1 << 22, 8_000_000, (1 << 40) + 5, i64::MAX] {
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let indices: Vec<i64> = (0..3000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Few distinct rows, so that most repeat.
                    [0, max_row / 3, max_row / 2, max_row][(x % 4) as usize]
                        - (x % 3) as i64 * i64::from(max_row > 2)
                })
                .map(|r| r.max(0))
                .collect();
            let mut buffers = spare::Buffers::default();
            coalesce(&indices, &mut buffers);
            let mut want: Vec<usize> = (0..indices.len()).collect();
            want.sort_by_key(|&i| indices[i]);
            assert_eq!(buffers.order, want, "max_row {max_row}");
        }
    }

    #[test]
    fn coalescing_matches_summing_in_order_of_appearance_for_every_path() {
        // Tables small and large (a key packs rows below 2^32; above, a comparison sort), lists
        // sorted and not, empty, of one id, and with runs of every length.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |below: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % below
        };
        for table in [1u64, 3, 1000, 1 << 20, 1 << 33] {
            for len in [0usize, 1, 2, 7, 64, 1000] {
                let mut indices: Vec<i64> = (0..len).map(|_| next(table) as i64).collect();
                if len % 2 == 0 {
                    indices.sort_unstable();
                    indices.dedup();
                }
                let values: Vec<f32> = (0..indices.len()).map(|_| next(1000) as f32 * 0.37 - 99.0).collect();
                let mut want = std::collections::BTreeMap::<usize, f32>::new();
                for (&row, &v) in indices.iter().zip(&values) {
                    want.entry(row as usize).and_modify(|sum| *sum += v).or_insert(v);
                }
                let want: Vec<(usize, Vec<f32>)> = want.into_iter().map(|(r, v)| (r, vec![v])).collect();
                assert_eq!(coalesced(&indices, &values, 1), want, "table {table}, {len} ids");
            }
        }
    }

    #[test]
    fn huge_row_indices_sort() {
        let rows = CoalescedRows::new(&[1 << 50, 3, 1 << 50], &[1.0f32, 2.0, 4.0], 1);
        let mut got = Vec::new();
        rows.for_each(|row, g| got.push((row, g[0])));
        assert_eq!(got, [(3, 2.0), (1 << 50, 5.0)]);
    }
}
