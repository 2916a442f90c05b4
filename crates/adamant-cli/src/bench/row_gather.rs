//! The roofline of a lazy row-sparse step: a plain loop over exactly the bytes the step must
//! move (each touched row of the weight and of every state array read and written back, the
//! gradient's values block read), on the same threads, asking for memory a few rows ahead as
//! the step does. Its rows are scattered over a large table, so what limits it is the latency
//! of cache and TLB misses, not the bus; a streaming pass over the same number of bytes would
//! flatter it.

use super::roofline::{self, Span};

/// Rows per piece a thread takes (16 Ki float32 elements of 64-element rows).
const PIECE_ROWS: usize = 256;

/// How many rows ahead the loop asks for memory (as the lazy step does).
const AHEAD: usize = 4;

/// The most arrays a lazy step rewrites: the weight and its state.
const MAX_TABLES: usize = 5;

/// Tables split at a row, and the rows that fall in them.
struct Piece<'a> {
    tables: [&'a mut [u8]; MAX_TABLES],
    /// Bytes per row (the same in every table: float32 weight and state).
    row_bytes: usize,
    /// Distinct rows, sorted, relative to the tables' first row `first`.
    rows: &'a [usize],
    first: usize,
}

/// Reads and writes back row `row` of every table in `tables`, and reads `values`, unchanged
/// when `zero` is 0, on the current rayon pool. `rows` are distinct and sorted.
pub fn gather<'a>(
    tables: impl IntoIterator<Item = &'a mut [u8]>,
    row_bytes: usize,
    rows: &[usize],
    values: &[u8],
    zero: u64,
) {
    let mut piece = Piece { tables: Default::default(), row_bytes, rows, first: 0 };
    for (slot, table) in piece.tables.iter_mut().zip(tables) {
        *slot = table;
    }
    rayon::join(|| piece.run(zero), || Span::new([], Some((values, 1)), values.len()).stream(zero));
}

impl Piece<'_> {
    fn run(self, zero: u64) {
        let Piece { tables, row_bytes, rows, first } = self;
        if rows.len() <= PIECE_ROWS {
            let mut tables = tables;
            let span = |row: usize| (row - first) * row_bytes..(row - first + 1) * row_bytes;
            for (k, &row) in rows.iter().enumerate() {
                if let Some(&ahead) = rows.get(k + AHEAD) {
                    tables.iter().filter(|t| !t.is_empty()).for_each(|t| adamant::prefetch(&t[span(ahead)]));
                }
                for table in tables.iter_mut().filter(|t| !t.is_empty()) {
                    roofline::rewrite(&mut table[span(row)], zero);
                }
            }
            return;
        }
        let (left, right) = rows.split_at(rows.len() / 2);
        let split = right[0];
        let mut pairs = tables.map(|t| {
            let at = if t.is_empty() { 0 } else { (split - first) * row_bytes };
            t.split_at_mut(at)
        });
        let before = pairs.each_mut().map(|(a, _)| std::mem::take(a));
        let after = pairs.map(|(_, b)| b);
        rayon::join(
            || Piece { tables: before, row_bytes, rows: left, first }.run(zero),
            || Piece { tables: after, row_bytes, rows: right, first: split }.run(zero),
        );
    }
}
