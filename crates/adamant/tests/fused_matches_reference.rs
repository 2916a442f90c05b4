//! `Adam::fused_step` against `Adam::step`, bit for bit (SPEC A.2 item 3).
//!
//! Random shapes (1-D lengths 0..5000, odd ones included, and 2-D and 3-D shapes), random
//! hyper-parameters, both weight-decay orders, clipping off (None, 0, negative) and on,
//! float32 and float64 in one batch, data with NaN, infinities and signed zeros, several steps.

use adamant::{Adam, AdamConfig, Buffer, DataRef, Optimizer, OptimizerConfig, Param, State, WdOrder};
use proptest::prelude::*;

/// Values that exercise the formula's edges as well as its ordinary range.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        20 => -4.0..4.0f64,
        2 => -1e-3..1e-3f64,
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(1e-40),
    ]
}

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
    f64: bool,
    weight: Vec<f64>,
    /// One gradient per step.
    grads: Vec<Vec<f64>>,
}

fn tensor(steps: usize) -> impl Strategy<Value = Tensor> {
    (shape(), any::<bool>()).prop_flat_map(move |(shape, f64)| {
        let n: usize = shape.iter().product();
        (
            Just(shape),
            Just(f64),
            prop::collection::vec(value(), n),
            prop::collection::vec(prop::collection::vec(value(), n), steps),
        )
            .prop_map(|(shape, f64, weight, grads)| Tensor { shape, f64, weight, grads })
    })
}

fn config() -> impl Strategy<Value = AdamConfig> {
    let clip = prop_oneof![Just(None), Just(Some(0.0)), Just(Some(-1.0)), (0.01..5.0f64).prop_map(Some)];
    let order = prop_oneof![Just(WdOrder::AfterClip), Just(WdOrder::BeforeClip)];
    (
        (0.0..1.0f64, 0.0..1.0f64, prop_oneof![Just(0.0), Just(1e-8), 1e-8..1e-2f64]),
        (0.0..1.0f64, 0.0..0.5f64, 0.0..2.0f64, clip, order, 0u64..20),
    )
        .prop_map(|((beta1, beta2, epsilon), (lr, wd, rescale_grad, clip_gradient, wd_order, begin))| {
            AdamConfig {
                beta1,
                beta2,
                epsilon,
                base: OptimizerConfig {
                    learning_rate: Some(lr),
                    wd,
                    rescale_grad,
                    clip_gradient,
                    wd_order,
                    begin_num_update: begin,
                    ..OptimizerConfig::default()
                },
                ..AdamConfig::default()
            }
        })
}

fn to_buffer(values: &[f64], f64: bool) -> Buffer {
    if f64 {
        Buffer::F64(values.to_vec())
    } else {
        Buffer::F32(values.iter().map(|&x| x as f32).collect())
    }
}

/// Marks a NaN of any sign or payload: LLVM leaves NaN payloads unspecified (it may swap the
/// operands of a commutative operation, and x86 propagates the first operand's NaN), so the
/// standard is "bit patterns equal, NaN equals NaN".
const NAN: u64 = u64::MAX;

fn bits(data: DataRef<'_>) -> Vec<u64> {
    match data {
        DataRef::F32(d) => d.iter().map(|x| if x.is_nan() { NAN } else { u64::from(x.to_bits()) }).collect(),
        DataRef::F64(d) => d.iter().map(|x| if x.is_nan() { NAN } else { x.to_bits() }).collect(),
        _ => unreachable!("only float32 and float64 are generated"),
    }
}

/// Runs every step with either path; returns the bits of every weight, mean and var.
fn run(config: &AdamConfig, tensors: &[Tensor], steps: usize, fused: bool) -> Vec<Vec<u64>> {
    let mut adam = Adam::new(config.clone()).unwrap();
    let mut weights: Vec<Buffer> = tensors.iter().map(|t| to_buffer(&t.weight, t.f64)).collect();
    let mut states: Vec<State> = Vec::new();
    for step in 0..steps {
        let grads: Vec<Buffer> = tensors.iter().map(|t| to_buffer(&t.grads[step], t.f64)).collect();
        let mut params: Vec<Param<'_>> = weights
            .iter_mut()
            .zip(&grads)
            .zip(tensors)
            .enumerate()
            .map(|(i, ((w, g), t))| match (w, g) {
                (Buffer::F32(w), Buffer::F32(g)) => Param::dense(i, &t.shape, w, g),
                (Buffer::F64(w), Buffer::F64(g)) => Param::dense(i, &t.shape, w, g),
                _ => unreachable!(),
            })
            .collect();
        if states.is_empty() {
            states = params.iter().map(|p| adam.create_state(&p.weight)).collect();
        }
        if fused {
            adam.fused_step(&mut params, &mut states).unwrap();
        } else {
            adam.step(&mut params, &mut states).unwrap();
        }
    }
    let mut out: Vec<Vec<u64>> = weights.iter().map(|w| bits(w.as_ref())).collect();
    for state in &states {
        let State::Adam(s) = state else { unreachable!("Adam made these states") };
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
        let fused = run(&config, &tensors, steps, true);
        for (i, (r, f)) in reference.iter().zip(&fused).enumerate() {
            if let Some(k) = r.iter().zip(f).position(|(a, b)| a != b) {
                prop_assert!(false, "array {} element {}: reference {:#x}, fused {:#x}", i, k, r[k], f[k]);
            }
        }
    }
}
