//! Row-sparse gradients (docs/semantics.md, decisions 2, 8 and 9), as properties:
//!
//! * the standard update equals the dense update on the densified gradient, bitwise;
//! * the lazy update equals the dense update on exactly the listed rows and leaves every other
//!   row (weight, mean, var) untouched, bitwise;
//! * any reordering of the listed rows that keeps repeats in their order gives the same bits;
//! * both the reference and the fused path, every dtype (half precision with and without master
//!   weights, in both arithmetics), NaN and infinities included;
//! * every optimizer and rule (the lazy update under PyTorch's rule is SparseAdam's, not Adam's on
//!   rows: `torch_sparse.rs` holds it to SparseAdam's formula).

mod common;

use adamant::{Buffer, DType, DataRef, Param, RowSparseRef, TensorMut, TensorRef, Updater};
use common::{bits, dtype, first_difference, optimizer, to_buffer, updater, value};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A table and the row-sparse gradients of a few steps.
#[derive(Debug, Clone)]
struct Case {
    rows: usize,
    row_len: usize,
    dtype: DType,
    weight: Vec<f64>,
    /// Per step: listed rows (unsorted, repeats allowed) and their values.
    steps: Vec<(Vec<i64>, Vec<f64>)>,
}

impl Case {
    fn shape(&self) -> [usize; 2] {
        [self.rows, self.row_len]
    }

    /// The dense gradient of step `s`: listed rows in place (repeats summed in order of
    /// appearance, in the table's dtype), every other row zero.
    fn densified(&self, s: usize) -> Buffer {
        let (indices, values) = &self.steps[s];
        let n = self.row_len;
        let mut listed = vec![false; self.rows];
        match to_buffer(values, self.dtype) {
            Buffer::F16(v) => Buffer::F16(densify(indices, &v, &mut listed, self.rows, n)),
            Buffer::BF16(v) => Buffer::BF16(densify(indices, &v, &mut listed, self.rows, n)),
            Buffer::F32(v) => Buffer::F32(densify(indices, &v, &mut listed, self.rows, n)),
            Buffer::F64(v) => Buffer::F64(densify(indices, &v, &mut listed, self.rows, n)),
            _ => unreachable!(),
        }
    }

    fn listed_rows(&self, s: usize) -> Vec<bool> {
        let mut listed = vec![false; self.rows];
        for &r in &self.steps[s].0 {
            listed[r as usize] = true;
        }
        listed
    }
}

fn densify<T: Copy + Default + std::ops::Add<Output = T>>(
    indices: &[i64],
    values: &[T],
    listed: &mut [bool],
    rows: usize,
    n: usize,
) -> Vec<T> {
    let mut dense = vec![T::default(); rows * n];
    for (i, &r) in indices.iter().enumerate() {
        let (row, src) = (&mut dense[r as usize * n..(r as usize + 1) * n], &values[i * n..(i + 1) * n]);
        if std::mem::replace(&mut listed[r as usize], true) {
            row.iter_mut().zip(src).for_each(|(a, &b)| *a = *a + b);
        } else {
            row.copy_from_slice(src);
        }
    }
    dense
}

fn case(max_steps: usize) -> impl Strategy<Value = Case> {
    (1usize..100, 0usize..12, dtype(), 1..=max_steps).prop_flat_map(|(rows, row_len, dtype, steps)| {
        let step = (0usize..2 * rows + 1).prop_flat_map(move |k| {
            (prop::collection::vec(0..rows as i64, k), prop::collection::vec(value(), k * row_len))
        });
        (prop::collection::vec(value(), rows * row_len), prop::collection::vec(step, steps))
            .prop_map(move |(weight, steps)| Case { rows, row_len, dtype, weight, steps })
    })
}

/// A table stepped by an optimizer.
struct Table {
    weight: Buffer,
    updater: Updater,
}

impl Table {
    fn new(case: &Case, (name, config): &(String, Value), lazy_update: bool, fused: bool) -> Self {
        let mut config = config.clone();
        config["lazy_update"] = json!(lazy_update);
        if lazy_update && config["rule"] == "torch" {
            // SparseAdam has neither (and refuses them).
            (config["wd"], config["amsgrad"]) = (json!(0.0), json!(false));
        }
        Table {
            weight: to_buffer(&case.weight, case.dtype),
            updater: updater(name, &common::fitted(&config, [case.dtype]), fused),
        }
    }

    fn step(&mut self, shape: &[usize], grad: Grad<'_>) {
        let grad = match grad {
            Grad::Dense(g) => adamant::Grad::Dense(TensorRef { shape, data: g.as_ref() }),
            Grad::Sparse(row_indices, g) => {
                adamant::Grad::RowSparse(RowSparseRef { shape, row_indices, values: g.as_ref() })
            }
        };
        self.updater
            .update(&mut [Param::new(0, TensorMut { shape, data: self.weight.as_mut() }, grad)])
            .unwrap();
    }

    /// The weight and the state arrays as bit patterns (the master weight stands in for the
    /// weight when there is one: the weight is its rounding).
    fn bits(&self) -> Vec<Vec<u64>> {
        let state = self.updater.state(0).expect("stepped at least once");
        let weight = state.array("weight32").unwrap_or(self.weight.as_ref());
        let arrays = state.arrays().filter(|(name, _)| *name != "weight32").map(|(_, a)| bits(a));
        std::iter::once(bits(weight)).chain(arrays).collect()
    }
}

enum Grad<'a> {
    Dense(&'a Buffer),
    Sparse(&'a [i64], &'a Buffer),
}

/// Configurations whose lazy update is the dense formula on rows: MXNet's rules.
fn mxnet_optimizer() -> impl Strategy<Value = (String, Value)> {
    optimizer().prop_filter("PyTorch's lazy update is SparseAdam's", |(_, c)| c["rule"] != "torch")
}

/// Row `r` of a flat array of rows of `n` elements.
fn row(array: &[u64], r: usize, n: usize) -> &[u64] {
    &array[r * n..(r + 1) * n]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn standard_update_equals_dense_update_on_densified_gradient(
        case in case(3), config in optimizer(), fused in any::<bool>(),
    ) {
        let shape = case.shape();
        let (mut sparse, mut dense) = (Table::new(&case, &config, false, fused), Table::new(&case, &config, false, fused));
        for (s, (indices, values)) in case.steps.iter().enumerate() {
            let values = to_buffer(values, case.dtype);
            sparse.step(&shape, Grad::Sparse(indices, &values));
            dense.step(&shape, Grad::Dense(&case.densified(s)));
            for (a, (want, got)) in dense.bits().iter().zip(&sparse.bits()).enumerate() {
                if let Some(diff) = first_difference(&format!("step {s} array {a}"), want, got) {
                    prop_assert!(false, "{}", diff);
                }
            }
        }
    }

    #[test]
    fn lazy_update_equals_dense_on_listed_rows_and_leaves_others_untouched(
        case in case(1), config in mxnet_optimizer(), fused in any::<bool>(),
    ) {
        let shape = case.shape();
        let (mut lazy, mut dense) = (Table::new(&case, &config, true, fused), Table::new(&case, &config, true, fused));
        // A dense first step on both, so that the moments are not zero.
        let first: Vec<f64> = case.weight.iter().map(|w| 0.5 - w * 0.25).collect();
        let first = to_buffer(&first, case.dtype);
        lazy.step(&shape, Grad::Dense(&first));
        dense.step(&shape, Grad::Dense(&first));
        let before = lazy.bits();

        let (indices, values) = &case.steps[0];
        let values = to_buffer(values, case.dtype);
        lazy.step(&shape, Grad::Sparse(indices, &values));
        dense.step(&shape, Grad::Dense(&case.densified(0)));
        let (after, want) = (lazy.bits(), dense.bits());
        let listed = case.listed_rows(0);
        let n = case.row_len;
        for a in 0..after.len() {
            let name = format!("array {a}");
            for (r, &is_listed) in listed.iter().enumerate() {
                let expected = if is_listed { row(&want[a], r, n) } else { row(&before[a], r, n) };
                if let Some(diff) = first_difference(&format!("{name} row {r} (listed: {is_listed})"), expected, row(&after[a], r, n)) {
                    prop_assert!(false, "{}", diff);
                }
            }
        }
    }

    #[test]
    fn reordering_that_keeps_repeats_in_order_changes_nothing(
        case in case(1), config in optimizer(), lazy in any::<bool>(), fused in any::<bool>(),
        shuffle in any::<u64>(),
    ) {
        let shape = case.shape();
        let (indices, values) = &case.steps[0];
        let (permuted_indices, permuted_values) = permute_keeping_repeats(indices, values, case.row_len, shuffle);
        let (mut a, mut b) = (Table::new(&case, &config, lazy, fused), Table::new(&case, &config, lazy, fused));
        a.step(&shape, Grad::Sparse(indices, &to_buffer(values, case.dtype)));
        b.step(&shape, Grad::Sparse(&permuted_indices, &to_buffer(&permuted_values, case.dtype)));
        for (i, (x, y)) in a.bits().iter().zip(&b.bits()).enumerate() {
            if let Some(diff) = first_difference(&format!("array {i}"), x, y) {
                prop_assert!(false, "{}", diff);
            }
        }
    }
}

/// A pseudo-random reordering of the entries in which the entries of each row keep their
/// relative order: shuffle the positions, then give each row's positions back to its entries
/// in their original order.
fn permute_keeping_repeats(indices: &[i64], values: &[f64], n: usize, seed: u64) -> (Vec<i64>, Vec<f64>) {
    let k = indices.len();
    let mut order: Vec<usize> = (0..k).collect();
    let mut state = seed | 1;
    for i in (1..k).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    // order[p] = which original entry lands at position p; restore per-row order.
    let mut by_row: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
    for (i, &r) in indices.iter().enumerate() {
        by_row.entry(r).or_default().push(i);
    }
    let mut next: std::collections::BTreeMap<i64, usize> = Default::default();
    let order: Vec<usize> = order
        .iter()
        .map(|&i| {
            let r = indices[i];
            let slot = next.entry(r).or_insert(0);
            *slot += 1;
            by_row[&r][*slot - 1]
        })
        .collect();
    let permuted_indices = order.iter().map(|&i| indices[i]).collect();
    let permuted_values = order.iter().flat_map(|&i| values[i * n..(i + 1) * n].iter().copied()).collect();
    (permuted_indices, permuted_values)
}

fn f32s(data: DataRef<'_>) -> Vec<f32> {
    match data {
        DataRef::F32(d) => d.to_vec(),
        _ => unreachable!(),
    }
}

fn adam_state(updater: &Updater, index: usize) -> (Vec<f32>, Vec<f32>) {
    let s = updater.state(index).expect("a state");
    (f32s(s.array("mean").unwrap()), f32s(s.array("var").unwrap()))
}

#[test]
fn a_listed_row_of_zeros_still_decays_its_moments() {
    let mut updater = Updater::new(adamant::create("adam", &json!({"lazy_update": true})).unwrap());
    let mut table = vec![0.5f32; 3 * 2];
    updater.update(&mut [Param::row_sparse(0, &[3, 2], &mut table, &[0, 2], &[1.0, 1.0, 1.0, 1.0])]).unwrap();
    let (m1, v1) = adam_state(&updater, 0);
    let before = table.clone();
    updater.update(&mut [Param::row_sparse(0, &[3, 2], &mut table, &[0], &[0.0, 0.0])]).unwrap();
    let (m2, v2) = adam_state(&updater, 0);
    assert_eq!(m2[0], 0.9f32 * m1[0], "listed zero row: m decays");
    assert_eq!(v2[0], 0.999f32 * v1[0], "listed zero row: v decays");
    assert_ne!(table[0], before[0], "listed zero row: the weight still moves (momentum)");
    assert_eq!((m2[4], v2[4], table[4]), (m1[4], v1[4], before[4]), "row 2 was not listed");
}

#[test]
fn an_empty_gradient_changes_no_row_when_lazy_but_counts() {
    let mut updater = Updater::new(adamant::create("adam", &json!({"lazy_update": true})).unwrap());
    let mut table = vec![0.5f32; 4 * 3];
    updater.update(&mut [Param::row_sparse(0, &[4, 3], &mut table, &[], &[])]).unwrap();
    assert_eq!(table, vec![0.5f32; 12]);
    assert_eq!(adam_state(&updater, 0), (vec![0.0; 12], vec![0.0; 12]));
    assert_eq!(updater.optimizer().base().update_counts()[&0], 1, "the counter still advances");
}

#[test]
fn an_empty_gradient_updates_every_row_when_standard() {
    let mut updater = Updater::new(adamant::create("adam", &json!({"wd": 0.1})).unwrap());
    let mut table = vec![0.5f32; 4 * 3];
    updater.update(&mut [Param::row_sparse(0, &[4, 3], &mut table, &[], &[])]).unwrap();
    assert!(table.iter().all(|&w| w < 0.5), "weight decay moves every row: {table:?}");
}

#[test]
fn one_batch_mixes_dense_and_row_sparse_gradients() {
    let config = json!({"lazy_update": true, "learning_rate": 0.1});
    let mut mixed = Updater::new(adamant::create("adam", &config).unwrap());
    let mut separate = Updater::new(adamant::create("adam", &config).unwrap());
    let (mut dense_a, mut table_a) = (vec![1.0f32; 4], vec![1.0f64; 10]);
    let (mut dense_b, mut table_b) = (dense_a.clone(), table_a.clone());
    let g = [0.5f32, -0.5, 0.25, 0.0];
    let (rows, values) = ([4i64, 1, 4], [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
    mixed
        .update(&mut [
            Param::dense(0, &[4], &mut dense_a, &g),
            Param::row_sparse(1, &[5, 2], &mut table_a, &rows, &values),
        ])
        .unwrap();
    separate.update(&mut [Param::dense(0, &[4], &mut dense_b, &g)]).unwrap();
    separate.update(&mut [Param::row_sparse(1, &[5, 2], &mut table_b, &rows, &values)]).unwrap();
    assert_eq!(dense_a, dense_b);
    assert_eq!(table_a, table_b);
    assert_eq!(&table_a[..2], &[1.0, 1.0], "row 0 not listed");
    assert!(table_a[8] < 1.0 && table_a[2] < 1.0, "rows 4 and 1 listed");
}
