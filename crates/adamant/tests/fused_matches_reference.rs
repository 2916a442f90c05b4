//! `Adam::fused_step` against `Adam::step`, bit for bit (SPEC A.2 item 3).
//!
//! Random shapes (1-D lengths 0..5000, odd ones included, and 2-D and 3-D shapes), random
//! hyper-parameters, both weight-decay orders, clipping off (None, 0, negative) and on, every
//! dtype in one batch (half precision with and without master weights, in both arithmetics),
//! data with NaN, infinities and signed zeros, several steps; every instruction-set level the
//! CPU has (this is the only test in its binary, so switching the level is safe here).

mod common;

use adamant::kernel::Isa;
use adamant::{Adam, AdamConfig, Buffer, DType, Grad, Optimizer, Param, State, TensorMut, TensorRef};
use common::{bits, config, dtype, first_difference, value};
use proptest::prelude::*;

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

/// Runs every step with either path; returns the bits of every weight, mean and var.
fn run(config: &AdamConfig, tensors: &[Tensor], steps: usize, fused: bool) -> Vec<Vec<u64>> {
    let mut adam = Adam::new(config.clone()).unwrap();
    let mut weights: Vec<Buffer> = tensors.iter().map(|t| common::to_buffer(&t.weight, t.dtype)).collect();
    let mut states: Vec<State> = Vec::new();
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
        if states.is_empty() {
            states = params.iter().map(|p| adam.create_state(&p.weight)).collect();
        }
        let mut refs: Vec<&mut State> = states.iter_mut().collect();
        if fused {
            adam.fused_step(&mut params, &mut refs).unwrap();
        } else {
            adam.step(&mut params, &mut refs).unwrap();
        }
    }
    let mut out: Vec<Vec<u64>> = weights.iter().map(|w| bits(w.as_ref())).collect();
    for state in &states {
        let State::Adam(s) = state else { unreachable!("Adam made these states") };
        out.extend(s.master().map(|m| bits(adamant::DataRef::F32(m))));
        out.push(bits(s.mean()));
        out.push(bits(s.var()));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fused_step_equals_step_bitwise(
        config in config(),
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
