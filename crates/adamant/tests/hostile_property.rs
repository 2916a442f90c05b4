//! Random hostile input through `Param::check` and `update`: shapes whose products pass 2^64,
//! mismatched lengths, row indices out of range, and hyper-parameters at ±0, subnormals,
//! 1e±39, NaN and infinity. Nothing may panic or hang, and finite inputs with accepted
//! hyper-parameters never give a NaN weight, as long as the gradient (rescaled, plus the
//! weight-decay term) stays below the square root of the dtype's largest value, where its
//! square still fits. MXNet's per-operation float16 arithmetic is excluded: there NaN is
//! MXNet's answer (its epsilon becomes 0).

mod common;

use adamant::{
    AdamConfig, DType, Grad, HalfMath, OptimizerConfig, Param, RowSparseRef, TensorMut, TensorRef, Updater,
};
use common::to_buffer;
use proptest::prelude::*;

/// Dimensions: small ones, zero, and ones whose products overflow.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![12 => 0usize..5, 1 => Just(1usize << 32), 1 => Just(1usize << 63), 1 => Just(usize::MAX)]
}

/// Hyper-parameter values at the edges of float64 and float32 (one in four), and ordinary ones
/// (so that enough configurations are accepted and reach the kernel).
fn hyper() -> impl Strategy<Value = f64> {
    prop_oneof![
        42 => 0.0..1.0f64,
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => Just(1e-310),
        1 => Just(1e-45),
        1 => Just(1e-39),
        1 => Just(1e39),
        1 => Just(1e38),
        1 => Just(-1e39),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.99999999),
        1 => Just(1e-8),
    ]
}

/// Finite element values, ordinary and extreme.
fn element() -> impl Strategy<Value = f64> {
    prop_oneof![8 => -4.0..4.0f64, 1 => Just(0.0), 1 => Just(-0.0), 1 => Just(1e-40), 1 => Just(1e30), 1 => Just(-3e38)]
}

#[derive(Debug, Clone)]
struct Case {
    shape: Vec<usize>,
    weight: Vec<f64>,
    grad: Vec<f64>,
    /// Row indices for a row-sparse gradient (lazy or standard), or `None` for a dense one.
    rows: Option<(Vec<i64>, bool)>,
    dtype: DType,
    config: AdamConfig,
}

fn case() -> impl Strategy<Value = Case> {
    let hypers = prop::collection::vec(hyper(), 7);
    let options = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
    let dtype = prop_oneof![Just(DType::F16), Just(DType::BF16), Just(DType::F32), Just(DType::F64)];
    let rows = prop_oneof![Just(None), (prop::collection::vec(-1i64..6, 0..5), any::<bool>()).prop_map(Some)];
    (
        prop::collection::vec(dim(), 0..4),
        any::<bool>(),
        prop::collection::vec(element(), 0..80),
        rows,
        dtype,
        hypers,
        options,
    )
        .prop_map(
            |(shape, exact_len, values, rows, dtype, h, (multi_precision, per_op, fused, clip_on))| {
                // Most cases give data of the shape's length; the others whatever length was drawn.
                let len =
                    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| exact_len && n <= 40);
                let weight_len = len.unwrap_or(values.len() / 2);
                let row_len =
                    shape.get(1..).map_or(1, |rest| rest.iter().fold(1usize, |a, &d| a.saturating_mul(d)));
                let grad_len = match &rows {
                    Some((r, _)) if exact_len => r.len().saturating_mul(row_len).min(40),
                    _ => weight_len,
                };
                let weight = values.iter().copied().cycle().take(weight_len).collect();
                let grad = values.iter().rev().copied().cycle().take(grad_len).collect();
                let config = AdamConfig {
                    beta1: h[0],
                    beta2: h[1],
                    epsilon: h[2],
                    use_fused_step: fused,
                    base: OptimizerConfig {
                        learning_rate: Some(h[3]),
                        wd: h[4],
                        rescale_grad: h[5],
                        clip_gradient: clip_on.then_some(h[6]),
                        multi_precision,
                        half_math: if per_op { HalfMath::PerOp } else { HalfMath::RoundOnce },
                        ..OptimizerConfig::default()
                    },
                    ..AdamConfig::default()
                };
                Case { shape, weight, grad, rows, dtype, config }
            },
        )
}

/// The square root of the largest finite value of `dtype`.
fn sqrt_max(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 65504f64.sqrt(),
        DType::BF16 => f64::from(half::bf16::MAX.to_f32()).sqrt(),
        DType::F32 => f64::from(f32::MAX).sqrt(),
        _ => f64::MAX.sqrt(),
    }
}

/// Whether every element's gradient, rescaled and with its weight-decay term, stays below the
/// square root of the largest value the arithmetic holds (float32 for half precision), and the
/// gradient itself (repeated rows summed in its dtype) stays finite: an infinite gradient times
/// a `rescale_grad` of 0 is NaN, as IEEE arithmetic says.
fn gradients_stay_in_range(c: &Case, weight: &[f64], grad: &[f64]) -> bool {
    let limit = 0.5 * sqrt_max(c.dtype);
    let (rescale, wd) = (c.config.base.rescale_grad, c.config.base.wd);
    let summed: f64 = grad.iter().map(|g| g.abs()).sum();
    let finite = summed < 0.5 * sqrt_max(c.dtype) * sqrt_max(c.dtype);
    weight.iter().all(|w| (wd * w).abs() < limit) && (summed * rescale).abs() < limit && finite
}

fn as_f64(data: adamant::DataRef<'_>) -> Vec<f64> {
    match data {
        adamant::DataRef::F16(d) => d.iter().map(|x| x.to_f64()).collect(),
        adamant::DataRef::BF16(d) => d.iter().map(|x| x.to_f64()).collect(),
        adamant::DataRef::F32(d) => d.iter().map(|&x| f64::from(x)).collect(),
        adamant::DataRef::F64(d) => d.to_vec(),
        _ => unreachable!(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10000, ..ProptestConfig::default() })]

    #[test]
    fn hostile_input_gives_a_typed_error_or_no_nan(c in case()) {
        let mut weight = to_buffer(&c.weight, c.dtype);
        let grad = to_buffer(&c.grad, c.dtype);
        let (weight_in, grad_in) = (as_f64(weight.as_ref()), as_f64(grad.as_ref()));
        let gradient = match &c.rows {
            None => Grad::Dense(TensorRef { shape: &c.shape, data: grad.as_ref() }),
            Some((rows, _)) => Grad::RowSparse(RowSparseRef { shape: &c.shape, row_indices: rows, values: grad.as_ref() }),
        };
        let mut config = c.config.clone();
        config.lazy_update = c.rows.as_ref().is_some_and(|(_, lazy)| *lazy);
        let param = Param::new(0, TensorMut { shape: &c.shape, data: weight.as_mut() }, gradient);
        let checked = param.check();
        let Ok(adam) = config.build() else { return Ok(()) };
        let mut updater = Updater::new(adam);
        let updated = updater.update(&mut [param]);
        prop_assert_eq!(checked.is_ok() || updated.is_err(), true, "check refused what update accepted");
        if updated.is_err() {
            prop_assert_eq!(as_f64(weight.as_ref()).iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                weight_in.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            prop_assert_eq!(updater.optimizer().base().num_update(), 0);
            return Ok(());
        }
        let per_op = c.dtype.is_half() && !c.config.base.multi_precision && c.config.base.half_math == HalfMath::PerOp;
        if !per_op && gradients_stay_in_range(&c, &weight_in, &grad_in) {
            let after = as_f64(weight.as_ref());
            prop_assert!(after.iter().all(|w| !w.is_nan()), "NaN weight from {:?}: {:?}", c, after);
        }
    }
}
