//! Strategies and comparisons shared by the property tests.
#![allow(dead_code)] // each test binary uses its own subset

use adamant::{AdamConfig, Buffer, DType, DataRef, HalfMath, OptimizerConfig, Updater, WdOrder};
use half::{bf16, f16};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Values that exercise the formula's edges as well as its ordinary range.
pub fn value() -> impl Strategy<Value = f64> {
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

/// Finite values in the ordinary range (for tests that sum gradients).
pub fn finite_value() -> impl Strategy<Value = f64> {
    prop_oneof![8 => -4.0..4.0f64, 1 => Just(0.0), 1 => Just(-0.0)]
}

/// Every dtype.
pub fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::F16), Just(DType::BF16), Just(DType::F32), Just(DType::F64)]
}

/// Random configurations of MXNet's Adam: rates, decays, both weight-decay orders, clipping off
/// in each of its spellings (None, 0, negative) and on, `begin_num_update`, master weights on or
/// off, both half-precision arithmetics.
pub fn config() -> impl Strategy<Value = AdamConfig> {
    let clip = prop_oneof![Just(None), Just(Some(0.0)), Just(Some(-1.0)), (0.01..5.0f64).prop_map(Some)];
    let wd_order = prop_oneof![Just(WdOrder::AfterClip), Just(WdOrder::BeforeClip)];
    let half_math = prop_oneof![Just(HalfMath::RoundOnce), Just(HalfMath::PerOp)];
    // The smallest epsilon the kernel accepts: the smallest positive float32.
    let epsilon = prop_oneof![Just(f64::from(f32::from_bits(1))), Just(1e-8), 1e-8..1e-2f64];
    // Betas below 1 also as float32 (the kernel refuses one that rounds to 1).
    let adam = (0.0..0.9999f64, 0.0..0.9999f64, epsilon);
    let base = (0.0..1.0f64, 0.0..0.5f64, 0.0..2.0f64, clip, wd_order, 0u64..20, any::<bool>(), half_math);
    (adam, base).prop_map(|((beta1, beta2, epsilon), base)| {
        let (lr, wd, rescale_grad, clip_gradient, wd_order, begin_num_update, multi_precision, half_math) =
            base;
        AdamConfig {
            beta1,
            beta2,
            epsilon,
            wd_order,
            base: OptimizerConfig {
                learning_rate: Some(lr),
                wd,
                rescale_grad,
                clip_gradient,
                begin_num_update,
                multi_precision,
                half_math,
                ..OptimizerConfig::default()
            },
            ..AdamConfig::default()
        }
    })
}

/// A registry name and a configuration: MXNet's Adam (as [`config`] makes them), PyTorch's Adam
/// and AdamW (with and without AMSGrad and maximize), and MXNet's AdamW (both kernels, with and
/// without bias correction, and `rescale_grad` values that skip the step).
pub fn optimizer() -> impl Strategy<Value = (String, Value)> {
    let mxnet_adam = config().prop_map(|c| ("adam".to_string(), c.to_json()));
    let common =
        (0.0..0.9999f64, 0.0..0.9999f64, 1e-8..1e-2f64, 0.0..1.0f64, 0.0..0.5f64, 0u64..20, any::<bool>());
    let torch = (common.clone(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |((beta1, beta2, epsilon, lr, wd, begin, multi_precision), amsgrad, maximize, adamw)| {
            let name = if adamw { "adamw" } else { "adam" }.to_string();
            (name, json!({"rule": "torch", "beta1": beta1, "beta2": beta2, "epsilon": epsilon, "learning_rate": lr,
                          "wd": wd, "begin_num_update": begin, "multi_precision": multi_precision,
                          "amsgrad": amsgrad, "maximize": maximize}))
        },
    );
    let clip = prop_oneof![Just(None), Just(Some(-1.0)), (0.01..5.0f64).prop_map(Some)];
    let rescale = prop_oneof![4 => 0.0..2.0f64, 1 => Just(0.0), 1 => Just(-0.5)];
    let half_math = prop_oneof![Just("round_once"), Just("per_op")];
    let mxnet_adamw = (common.clone(), any::<bool>(), any::<bool>(), clip, rescale, half_math).prop_map(
        |((beta1, beta2, epsilon, lr, wd, begin, multi_precision), multi, correct_bias, clip, rescale, half_math)| {
            ("adamw".to_string(), json!({"beta1": beta1, "beta2": beta2, "epsilon": epsilon, "learning_rate": lr,
                "wd": wd, "begin_num_update": begin, "multi_precision": multi_precision, "correct_bias": correct_bias,
                "adamw_kernel": if multi { "multi" } else { "single" }, "clip_gradient": clip,
                "rescale_grad": rescale, "half_math": half_math}))
        },
    );
    let clip = prop_oneof![Just(None), Just(Some(-1.0)), (0.01..5.0f64).prop_map(Some)];
    let rescale = prop_oneof![4 => 0.0..2.0f64, 1 => Just(0.0)];
    let half_math = prop_oneof![Just("round_once"), Just("per_op")];
    let formula = prop_oneof![Just("2.0"), Just("1.x")];
    let ndarray = (common, clip, rescale, half_math, formula, any::<bool>(), 0.0..0.1f64).prop_map(
        |((beta1, beta2, epsilon, lr, wd, begin, multi_precision), clip, rescale, half_math, formula, nadam, decay)| {
            let mut config = json!({"beta1": beta1, "beta2": beta2, "epsilon": epsilon, "learning_rate": lr,
                "wd": wd, "begin_num_update": begin, "multi_precision": multi_precision, "clip_gradient": clip,
                "rescale_grad": rescale, "half_math": half_math, "formula": formula});
            if nadam {
                config["schedule_decay"] = json!(decay);
            }
            (if nadam { "nadam" } else { "adamax" }.to_string(), config)
        },
    );
    prop_oneof![2 => mxnet_adam, 1 => torch, 1 => mxnet_adamw, 2 => ndarray]
}

/// [`optimizer`], and LAMB (which takes dense gradients only).
pub fn dense_optimizer() -> impl Strategy<Value = (String, Value)> {
    let lamb = (
        (0.0..0.9999f64, 0.0..0.9999f64, 1e-8..1e-2f64, 0.0..1.0f64, 0.0..0.5f64, 0u64..20),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (
            prop_oneof![Just(None), (0.0..2.0f64).prop_map(Some)],
            prop_oneof![Just(None), (0.0..2.0f64).prop_map(Some)],
        ),
        prop_oneof![Just(None), (0.01..5.0f64).prop_map(Some)],
    )
        .prop_map(|((beta1, beta2, epsilon, lr, wd, begin), (phase, bias, v1), (lower, upper), clip)| {
            (
                "lamb".to_string(),
                json!({"beta1": beta1, "beta2": beta2, "epsilon": epsilon, "learning_rate": lr,
                "wd": wd, "begin_num_update": begin, "lamb_kernel": if phase { "phase" } else { "multi" },
                "bias_correction": bias, "formula": if v1 { "1.x" } else { "2.0" }, "lower_bound": lower,
                "upper_bound": upper, "clip_gradient": clip}),
            )
        });
    prop_oneof![3 => optimizer(), 1 => lamb]
}

/// An updater of `name` configured by `config`, on the fused loop or the reference one.
/// `config`, with master weights where PyTorch's rule needs them: for half-precision weights.
pub fn fitted(config: &Value, dtypes: impl IntoIterator<Item = DType>) -> Value {
    let mut config = config.clone();
    let half = dtypes.into_iter().any(|d| matches!(d, DType::F16 | DType::BF16));
    // LAMB's kernels have no half-precision arithmetic, and its phase kernel no master copy.
    let lamb = config.get("lamb_kernel").is_some();
    if half && (config["rule"] == "torch" || lamb) {
        config["multi_precision"] = json!(true);
    }
    if half && lamb {
        config["lamb_kernel"] = json!("multi");
    }
    config
}

pub fn updater(name: &str, config: &Value, fused: bool) -> Updater {
    let mut config = config.clone();
    config["use_fused_step"] = json!(fused);
    Updater::new(adamant::create(name, &config).unwrap())
}

/// The bits of every weight and every state array of `updater`, in index order.
pub fn all_bits(updater: &Updater, weights: &[Buffer]) -> Vec<Vec<u64>> {
    let mut out: Vec<Vec<u64>> = weights.iter().map(|w| bits(w.as_ref())).collect();
    for (_, state) in updater.states() {
        out.extend(state.arrays().map(|(_, a)| bits(a)));
    }
    out
}

/// `values` rounded to `dtype`.
pub fn to_buffer(values: &[f64], dtype: DType) -> Buffer {
    match dtype {
        DType::F16 => Buffer::F16(values.iter().map(|&x| f16::from_f64(x)).collect()),
        // Through float32: half 2.4.1's bf16::from_f64 is not correctly rounded for some inputs.
        DType::BF16 => Buffer::BF16(values.iter().map(|&x| bf16::from_f32(x as f32)).collect()),
        DType::F32 => Buffer::F32(values.iter().map(|&x| x as f32).collect()),
        _ => Buffer::F64(values.to_vec()),
    }
}

/// Marks a NaN of any sign or payload: LLVM leaves NaN payloads unspecified (it may swap the
/// operands of a commutative operation, and x86 propagates the first operand's NaN), so the
/// standard is "bit patterns equal, NaN equals NaN".
pub const NAN: u64 = u64::MAX;

/// Bit patterns, with every NaN as [`NAN`].
pub fn bits(data: DataRef<'_>) -> Vec<u64> {
    match data {
        DataRef::F32(d) => d.iter().map(|x| if x.is_nan() { NAN } else { u64::from(x.to_bits()) }).collect(),
        DataRef::F64(d) => d.iter().map(|x| if x.is_nan() { NAN } else { x.to_bits() }).collect(),
        DataRef::F16(d) => d.iter().map(|x| if x.is_nan() { NAN } else { u64::from(x.to_bits()) }).collect(),
        DataRef::BF16(d) => d.iter().map(|x| if x.is_nan() { NAN } else { u64::from(x.to_bits()) }).collect(),
        _ => unreachable!("a dtype this test does not know"),
    }
}

/// The first element where two bit-pattern arrays differ, as a message.
pub fn first_difference(what: &str, want: &[u64], got: &[u64]) -> Option<String> {
    if want.len() != got.len() {
        return Some(format!("{what}: {} elements vs {}", want.len(), got.len()));
    }
    let k = want.iter().zip(got).position(|(a, b)| a != b)?;
    Some(format!("{what} element {k}: want {:#x}, got {:#x}", want[k], got[k]))
}
