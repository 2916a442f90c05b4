//! The fused loop against the scalar reference, bit for bit (`docs/semantics.md`, decision 3),
//! for every optimizer and rule.
//!
//! Random shapes (1-D lengths 0..5000, odd ones included, and 2-D and 3-D shapes), random
//! hyper-parameters and options (MXNet's Adam in both weight-decay orders, clipping off in each
//! spelling and on; PyTorch's Adam and AdamW with AMSGrad and maximize; MXNet's AdamW with both
//! kernels and skipped steps; Adamax and Nadam with both of MXNet's formulas; LAMB with both
//! kernels, bounds and bias correction on and off), every dtype in one batch (half precision with and without master
//! weights, in both arithmetics), data with NaN, infinities and signed zeros, several steps;
//! every instruction-set level the CPU has (this is the only test in its binary, so switching
//! the level is safe here).

mod common;

use adamant::{Buffer, DType, Grad, Isa, Param, TensorMut, TensorRef};
use common::{all_bits, dense_optimizer, dtype, first_difference, updater, value};
use proptest::prelude::*;
use serde_json::Value;

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        3 => (0usize..5000).prop_map(|n| vec![n]),
        1 => (0usize..70, 0usize..70).prop_map(|(a, b)| vec![a, b]),
        1 => (1usize..9, 1usize..9, 1usize..9).prop_map(|(a, b, c)| vec![a, b, c]),
    ]
}

#[derive(Debug, Clone)]
struct Tensor {
    shape: Vec<usize>,
    dtype: DType,
    weight: Vec<f64>,
    /// One gradient per step.
    grads: Vec<Vec<f64>>,
}

fn tensor(steps: usize) -> impl Strategy<Value = Tensor> {
    (shape(), dtype()).prop_flat_map(move |(shape, dtype)| {
        let n: usize = shape.iter().product();
        (
            Just(shape),
            Just(dtype),
            prop::collection::vec(value(), n),
            prop::collection::vec(prop::collection::vec(value(), n), steps),
        )
            .prop_map(|(shape, dtype, weight, grads)| Tensor { shape, dtype, weight, grads })
    })
}

/// Runs every step with either path; returns the bits of every weight and state array.
fn run((name, config): &(String, Value), tensors: &[Tensor], steps: usize, fused: bool) -> Vec<Vec<u64>> {
    let mut updater = updater(name, &common::fitted(config, tensors.iter().map(|t| t.dtype)), fused);
    let mut weights: Vec<Buffer> = tensors.iter().map(|t| common::to_buffer(&t.weight, t.dtype)).collect();
    for step in 0..steps {
        let grads: Vec<Buffer> = tensors.iter().map(|t| common::to_buffer(&t.grads[step], t.dtype)).collect();
        let mut params: Vec<Param<'_>> = weights
            .iter_mut()
            .zip(&grads)
            .zip(tensors)
            .enumerate()
            .map(|(i, ((w, g), t))| {
                let grad = Grad::Dense(TensorRef { shape: &t.shape, data: g.as_ref() });
                Param::new(i, TensorMut { shape: &t.shape, data: w.as_mut() }, grad)
            })
            .collect();
        updater.update(&mut params).unwrap();
    }
    all_bits(&updater, &weights)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fused_step_equals_step_bitwise(
        config in dense_optimizer(),
        (steps, tensors) in (1usize..4).prop_flat_map(|s| (Just(s), prop::collection::vec(tensor(s), 1..4))),
    ) {
        let reference = run(&config, &tensors, steps, false);
        for isa in Isa::available() {
            isa.set();
            let fused = run(&config, &tensors, steps, true);
            for (i, (r, f)) in reference.iter().zip(&fused).enumerate() {
                if let Some(diff) = first_difference(&format!("{isa:?}: array {i}"), r, f) {
                    prop_assert!(false, "{}", diff);
                }
            }
        }
    }
}
