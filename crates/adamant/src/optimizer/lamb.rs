//! LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
//! ICLR 2020), as MXNet computes it: with its multi-tensor kernel (`lamb_kernel = "multi"`, the
//! default: `_multi_lamb_update` / `_multi_mp_lamb_update`) or its two phase operators and
//! `NDArray.norm` (`"phase"`: `lamb_update_phase1` / `lamb_update_phase2`). A rule that needs a
//! reduction: every element's direction first, then the tensor's norms, then the update.
//!
//! The multi kernel, per tensor, in `M` (float32; float64 for float64 weights), `w` the master
//! copy under `multi_precision`:
//!
//! ```text
//! g = clip(grad * rescale_grad);  m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + ((1 - beta2) * g) * g
//! m^, v^ = m / (1 - beta1^t), v / (1 - beta2^t)          (bias_correction; else m, v)
//! d  = float(M(m^ / (sqrt(v^) + eps) + wd * w))          (the quotient and sum in float64)
//! r1 = sqrt(sum of w^2), r2 = sqrt(sum of d^2)           (float32 sums, in element order)
//! r1 = clamp(r1, lower_bound, upper_bound);  r = r1 / r2, or 1 where r1 or r2 is 0
//! w  = w - (lr * r) * d
//! ```
//!
//! The sums run in element order, as MXNet's `multi_sum_sq` runs them, so they are the same
//! bits for every thread count (threads step different tensors). Under MXNet 1.x (`formula =
//! "1.x"`) `r1` of a half-precision weight with master weights sums the half-precision weights'
//! squares rounded to half; MXNet 2.0 sums the master copy's. float64 weights follow 1.x (2.0
//! cannot run LAMB on them). The phase operators compute in the weight's dtype, with their own
//! associations (see `phase`). Half-precision weights need `multi_precision` (MXNet's kernels
//! have no half arithmetic for LAMB), the phase operators refuse it (MXNet's
//! `mp_lamb_update_phase2` never updates the master copy), and row-sparse gradients are refused.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::kernel::element::{DType, DataMut, DataRef};
use crate::kernel::formula::{clip, maximum};
use crate::kernel::spare::Spare;
use crate::kernel::storage::Half;
use crate::kernel::{Loop, Real};
use crate::optimizer::algorithm::{Algorithm, Counted};
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::fields::{self, Field, Fields};
use crate::optimizer::kernel_values::{self, Read};
use crate::optimizer::mxnet_float::{float_field, tuple_field};
use crate::optimizer::ndarray_rules::ARRAYS;
use crate::optimizer::options::{Choice, MxnetVersion};
use crate::optimizer::state::{Layout, StateMut};
use crate::param::{Grad, Param};

/// Which of MXNet's LAMB implementations runs.
///
/// ```
/// assert_eq!(adamant::optimizer::lamb::LambKernel::default(), adamant::optimizer::lamb::LambKernel::Multi);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LambKernel {
    /// `_multi_lamb_update`, what MXNet's LAMB runs by default.
    #[default]
    Multi,
    /// `lamb_update_phase1`, `NDArray.norm` and `lamb_update_phase2` (aggregation off).
    Phase,
}

impl Choice for LambKernel {
    const KEY: &'static str = "lamb_kernel";
    const NAMES: &'static [(&'static str, Self)] =
        &[("multi", LambKernel::Multi), ("phase", LambKernel::Phase)];
}

/// LAMB's configuration. `Default` gives MXNet's defaults (`beta1` 0.9, `beta2` 0.999,
/// `epsilon` 1e-6, no bounds, bias correction, the multi-tensor kernel; learning rate 0.001).
///
/// ```
/// let lamb = adamant::create("lamb", &serde_json::json!({"learning_rate": 0.01, "lower_bound": 1e-3}))?;
/// assert_eq!(lamb.layout(adamant::DType::F32).names().collect::<Vec<_>>(), ["mean", "var"]);
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LambConfig {
    /// The hyper-parameters every optimizer has.
    pub base: OptimizerConfig,
    /// Decay of the first moment, in [0, 1).
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1).
    pub beta2: f64,
    /// Added to `sqrt(v^)`; > 0 as the kernel reads it.
    pub epsilon: f64,
    /// The least `r1` (the weight's norm); none, 0 or a negative value: no bound (MXNet passes
    /// a bound only when it is truthy).
    pub lower_bound: Option<f64>,
    /// The largest `r1`; as `lower_bound`.
    pub upper_bound: Option<f64>,
    /// Divide the moments by `1 - beta^t`.
    pub bias_correction: bool,
    /// Which of MXNet's implementations.
    pub lamb_kernel: LambKernel,
    /// Which MXNet version's formula (the norm of a half-precision weight's master copy or of
    /// the weight).
    pub formula: MxnetVersion,
    /// Kept for the registry's uniformity: both settings run the same loops.
    pub use_fused_step: bool,
}

impl Default for LambConfig {
    fn default() -> Self {
        LambConfig {
            base: OptimizerConfig::default(),
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-6,
            lower_bound: None,
            upper_bound: None,
            bias_correction: true,
            lamb_kernel: LambKernel::Multi,
            formula: MxnetVersion::V2,
            use_fused_step: true,
        }
    }
}

impl Fields for LambConfig {
    const OWNER: &'static str = "lamb";
    const FIELDS: &'static [Field<Self>] = &[
        Field::Number("beta1", |c| &mut c.beta1),
        Field::Number("beta2", |c| &mut c.beta2),
        Field::Number("epsilon", |c| &mut c.epsilon),
        Field::OptionalNumber("lower_bound", |c| &mut c.lower_bound),
        Field::OptionalNumber("upper_bound", |c| &mut c.upper_bound),
        Field::Flag("bias_correction", |c| &mut c.bias_correction),
        Field::Choice(|c| &mut c.lamb_kernel),
        Field::Choice(|c| &mut c.formula),
        Field::Flag("use_fused_step", |c| &mut c.use_fused_step),
    ];
    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }
}

fields::registry_methods!(LambConfig, "LAMB", |config| config);

/// A bound as MXNet's kernel reads it, or -1 (off).
fn bound(b: Option<f64>) -> f32 {
    b.filter(|&b| b > 0.0).map_or(-1.0, float_field)
}

/// The scalars of one LAMB step as the kernels read them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LambScalars {
    /// The multi kernel's rate and decay (`Tuple<float>`: the nearest float) and the phase
    /// operators' (`float` fields: MXNet's parser).
    lr: f32,
    wd: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    rescale_grad: f32,
    /// Infinite when clipping is off.
    clip: f32,
    lower_bound: f32,
    upper_bound: f32,
    t: u64,
}

impl Algorithm for LambConfig {
    const NAME: &'static str = "lamb";
    const DEFAULT_LEARNING_RATE: f64 = 0.001;
    type Step = LambScalars;

    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }

    fn read(&self) -> Read {
        float_field
    }

    fn validate(&self, base: &OptimizerConfig) -> Result<()> {
        kernel_values::beta(float_field, "beta1", self.beta1)?;
        kernel_values::beta(float_field, "beta2", self.beta2)?;
        kernel_values::epsilon(float_field, "epsilon", self.epsilon)?;
        for (name, b) in [("lower_bound", self.lower_bound), ("upper_bound", self.upper_bound)] {
            if let Some(b) = b.filter(|b| !b.is_finite() || float_field(*b).is_infinite()) {
                return Err(Error::InvalidHyperParameter {
                    name,
                    value: format!("{b:?}"),
                    reason: "must be finite (none, 0 or a negative value: no bound)".into(),
                });
            }
        }
        if self.lamb_kernel == LambKernel::Phase && base.multi_precision {
            return Err(Error::InvalidHyperParameter {
                name: "multi_precision",
                value: "true".into(),
                reason:
                    "the phase kernel never updates the master copy (MXNet's mp_lamb_update_phase2); use \
                         lamb_kernel multi"
                        .into(),
            });
        }
        Ok(())
    }

    fn to_json(&self, base: &OptimizerConfig) -> Value {
        fields::to_json(self, base)
    }

    fn layout(&self, dtype: DType, base: &OptimizerConfig) -> Layout {
        Layout::new(ARRAYS, dtype, base.multi_precision)
    }

    fn fused(&self) -> bool {
        self.use_fused_step
    }

    fn check(&self, param: &Param<'_>, base: &OptimizerConfig) -> Result<()> {
        if matches!(param.grad, Grad::RowSparse(_)) {
            return Err(Error::RowSparseUnsupported {
                index: param.index,
                optimizer: "lamb",
                why: "its trust ratio needs the norm of every element's update",
            });
        }
        let dtype = param.weight.data.dtype();
        if matches!(dtype, DType::F16 | DType::BF16) && !base.multi_precision {
            return Err(Error::DTypeUnsupported {
                index: param.index,
                dtype,
                what: "weights need multi_precision for LAMB (MXNet's LAMB kernels have no half-precision \
                       arithmetic)",
            });
        }
        Ok(())
    }

    fn step(&mut self, c: &Counted, base: &OptimizerConfig) -> Result<LambScalars> {
        // The multi kernel reads the rates and decays as a Tuple<float>, the phase operators as
        // float fields.
        let read: Read = match self.lamb_kernel {
            LambKernel::Multi => tuple_field,
            LambKernel::Phase => float_field,
        };
        Ok(LambScalars {
            lr: kernel_values::step_value(
                read,
                "learning_rate",
                c.base_lr,
                c.index,
                c.t,
                "lr * lr_mult",
                c.lr,
            )?,
            wd: kernel_values::step_value(read, "wd", base.wd, c.index, c.t, "wd * wd_mult", c.wd)?,
            beta1: float_field(self.beta1),
            beta2: float_field(self.beta2),
            epsilon: float_field(self.epsilon),
            rescale_grad: float_field(base.rescale_grad),
            clip: base.clip().map_or(f32::INFINITY, float_field),
            lower_bound: bound(self.lower_bound),
            upper_bound: bound(self.upper_bound),
            t: c.t,
        })
    }

    fn reserve_scratch(&self, params: &[Param<'_>]) {
        // A tensor's step runs on one thread: as many directions at once as threads. The phase
        // kernel's direction for float64 weights is float64; every other one is float32.
        let threads = rayon::current_num_threads().min(MOST_DIRECTIONS);
        let wide =
            |p: &Param<'_>| self.lamb_kernel == LambKernel::Phase && p.weight.data.dtype() == DType::F64;
        for wide_direction in [false, true] {
            // The longest `threads` tensors of the kind, longest first: any `threads` of the
            // batch at once fit in their buffers.
            let (mut longest, mut count) = ([0usize; MOST_DIRECTIONS], 0);
            for len in params.iter().filter(|p| wide(p) == wide_direction).map(|p| p.weight.data.len()) {
                let at = longest[..count].partition_point(|&l| l >= len);
                if at < threads {
                    count = (count + 1).min(threads);
                    longest.copy_within(at..count - 1, at + 1);
                    longest[at] = len;
                }
            }
            if wide_direction {
                f64::spare().fit(&mut longest[..count]);
            } else {
                f32::spare().fit(&mut longest[..count]);
            }
        }
    }

    fn apply(
        &self,
        s: &LambScalars,
        param: &mut Param<'_>,
        state: &mut StateMut<'_>,
        _: &OptimizerConfig,
        _: Loop,
    ) {
        let Grad::Dense(grad) = param.grad else { return };
        let mut arrays = state.arrays_mut();
        let (Some(mean), Some(var)) = (arrays.next(), arrays.next()) else { return };
        let master = arrays.next();
        let bias = self.bias_correction;
        match (&mut param.weight.data, grad.data, mean, var, master, self.lamb_kernel) {
            (DataMut::F32(w), DataRef::F32(g), DataMut::F32(m), DataMut::F32(v), None, LambKernel::Multi) => {
                multi(&MultiIn::<f32>::new(s, bias), &mut Plain(w), |k| g[k], m, v)
            }
            (DataMut::F64(w), DataRef::F64(g), DataMut::F64(m), DataMut::F64(v), None, LambKernel::Multi) => {
                multi(&MultiIn::<f64>::new(s, bias), &mut Plain(w), |k| g[k], m, v)
            }
            (
                DataMut::F16(w),
                DataRef::F16(g),
                DataMut::F32(m),
                DataMut::F32(v),
                Some(DataMut::F32(w32)),
                _,
            ) => self.multi_with_master(s, w, g, m, v, w32),
            (
                DataMut::BF16(w),
                DataRef::BF16(g),
                DataMut::F32(m),
                DataMut::F32(v),
                Some(DataMut::F32(w32)),
                _,
            ) => self.multi_with_master(s, w, g, m, v, w32),
            (DataMut::F32(w), DataRef::F32(g), DataMut::F32(m), DataMut::F32(v), None, LambKernel::Phase) => {
                phase(&PhaseIn::<f32>::new(s, bias), w, g, m, v)
            }
            (DataMut::F64(w), DataRef::F64(g), DataMut::F64(m), DataMut::F64(v), None, LambKernel::Phase) => {
                phase(&PhaseIn::<f64>::new(s, bias), w, g, m, v)
            }
            _ => debug_assert!(false, "the weight, gradient and state were checked"),
        }
    }
}

/// A float type the kernels compute in, with the conversions they make.
trait Wide: Real {
    fn wide(self) -> f64;
    fn narrow(self) -> f32;
    /// `x * x` added to a float32 sum as MXNet 1.x's `multi_sum_sq` adds it for this dtype.
    fn add_square(sum: f32, x: Self) -> f32;
    /// `pow(self, t)` in this type, as `std::pow` of the kernel's type.
    fn powi_as_kernel(self, t: u64) -> Self;
    /// Directions of earlier steps' tensors, to hold this one's without allocating.
    fn spare() -> &'static Spare<Vec<Self>>;
}

impl Wide for f32 {
    fn spare() -> &'static Spare<Vec<f32>> {
        static SPARE: Spare<Vec<f32>> = Spare::new();
        &SPARE
    }
    fn wide(self) -> f64 {
        f64::from(self)
    }
    fn narrow(self) -> f32 {
        self
    }
    fn add_square(sum: f32, x: f32) -> f32 {
        sum + x * x
    }
    fn powi_as_kernel(self, t: u64) -> f32 {
        self.powf(t as f32)
    }
}

impl Wide for f64 {
    fn spare() -> &'static Spare<Vec<f64>> {
        static SPARE: Spare<Vec<f64>> = Spare::new();
        &SPARE
    }
    fn wide(self) -> f64 {
        self
    }
    fn narrow(self) -> f32 {
        self as f32
    }
    fn add_square(sum: f32, x: f64) -> f32 {
        (f64::from(sum) + x * x) as f32
    }
    fn powi_as_kernel(self, t: u64) -> f64 {
        self.powf(t as f64)
    }
}

/// The multi kernel's scalars in its compute type.
struct MultiIn<M> {
    lr: M,
    wd: M,
    beta1: M,
    one_minus_beta1: M,
    beta2: M,
    one_minus_beta2: M,
    /// `1 - beta^t`, or 1 without bias correction (a division by 1 is exact).
    correction1: M,
    correction2: M,
    epsilon: f64,
    rescale_grad: M,
    clip: M,
    lower_bound: f32,
    upper_bound: f32,
}

impl<M: Wide> MultiIn<M> {
    fn new(s: &LambScalars, bias_correction: bool) -> Self {
        let (beta1, beta2) = (M::from_f32(s.beta1), M::from_f32(s.beta2));
        let correction = |beta: M| if bias_correction { M::ONE - beta.powi_as_kernel(s.t) } else { M::ONE };
        MultiIn {
            lr: M::from_f32(s.lr),
            wd: M::from_f32(s.wd),
            beta1,
            one_minus_beta1: M::ONE - beta1,
            beta2,
            one_minus_beta2: M::ONE - beta2,
            correction1: correction(beta1),
            correction2: correction(beta2),
            epsilon: f64::from(s.epsilon),
            rescale_grad: M::from_f32(s.rescale_grad),
            clip: M::from_f32(s.clip),
            lower_bound: s.lower_bound,
            upper_bound: s.upper_bound,
        }
    }
}

/// The weights the multi kernel steps: what it computes with, the sum of squares `r1` is taken
/// from, and where the result goes.
trait Weights<M> {
    fn get(&self, k: usize) -> M;
    fn add_square(&self, sum: f32, k: usize) -> f32;
    fn set(&mut self, k: usize, w: M);
}

/// Weights of the compute type.
struct Plain<'a, M>(&'a mut [M]);

impl<M: Wide> Weights<M> for Plain<'_, M> {
    fn get(&self, k: usize) -> M {
        self.0[k]
    }
    fn add_square(&self, sum: f32, k: usize) -> f32 {
        M::add_square(sum, self.0[k])
    }
    fn set(&mut self, k: usize, w: M) {
        self.0[k] = w;
    }
}

/// Half-precision weights with their float32 master copy.
struct Master<'a, H> {
    w: &'a mut [H],
    master: &'a mut [f32],
    /// MXNet 1.x: `r1` from the half-precision weights, each square rounded to half.
    r1_of_half: bool,
}

impl<H: Half + Copy> Weights<f32> for Master<'_, H> {
    fn get(&self, k: usize) -> f32 {
        self.master[k]
    }
    fn add_square(&self, sum: f32, k: usize) -> f32 {
        if self.r1_of_half {
            let x = self.w[k].to_f32();
            sum + H::from_f32(x * x).to_f32()
        } else {
            sum + self.master[k] * self.master[k]
        }
    }
    fn set(&mut self, k: usize, w: f32) {
        self.master[k] = w;
        self.w[k] = H::from_f32(w);
    }
}

impl LambConfig {
    /// The multi kernel on a half-precision weight `w` (gradient `g`) with its float32 master
    /// copy `w32` and float32 moments.
    fn multi_with_master<H: Half + Copy>(
        &self,
        s: &LambScalars,
        w: &mut [H],
        g: &[H],
        m: &mut [f32],
        v: &mut [f32],
        w32: &mut [f32],
    ) {
        let weights = &mut Master { w, master: w32, r1_of_half: self.formula == MxnetVersion::V1 };
        multi(&MultiIn::<f32>::new(s, self.bias_correction), weights, |k| g[k].to_f32(), m, v)
    }
}

/// The most directions kept between steps, one per thread (more threads allocate theirs).
const MOST_DIRECTIONS: usize = 256;

/// MXNet's `_multi_lamb_update` for one tensor.
fn multi<M: Wide>(
    s: &MultiIn<M>,
    w: &mut impl Weights<M>,
    g: impl Fn(usize) -> M,
    mean: &mut [M],
    var: &mut [M],
) {
    let n = mean.len();
    let mut direction = f32::spare().take(n);
    direction.resize(n, 0.0);
    let (mut s1, mut s2) = (0f32, 0f32);
    for k in 0..n {
        let x = g(k) * s.rescale_grad;
        // An infinite bound (clipping off) leaves every value as it is.
        let x = clip(x, s.clip);
        let m = s.beta1 * mean[k] + s.one_minus_beta1 * x;
        let v = s.beta2 * var[k] + (s.one_minus_beta2 * x) * x;
        (mean[k], var[k]) = (m, v);
        let (m_hat, v_hat) = (m / s.correction1, v / s.correction2);
        let weight = w.get(k);
        // The kernel's unqualified sqrt of a float resolves to the double one: the quotient and
        // the sum are double, rounded once to M, then to the float workspace.
        let u = m_hat.wide() / (v_hat.wide().sqrt() + s.epsilon) + (s.wd * weight).wide();
        let d = M::from_f64(u).narrow();
        direction[k] = d;
        s1 = w.add_square(s1, k);
        s2 += d * d;
    }
    let r = trust_ratio(s1.sqrt(), s2.sqrt(), s.lower_bound, s.upper_bound);
    let step = s.lr * M::from_f32(r);
    for (k, &d) in direction.iter().enumerate() {
        let updated = w.get(k) - step * M::from_f32(d);
        w.set(k, updated);
    }
    f32::spare().give_back(direction);
}

/// The multi kernel's ratio: `r1` clamped to the bounds, over `r2`; 1 where either is 0.
fn trust_ratio(r1: f32, r2: f32, lower: f32, upper: f32) -> f32 {
    let r1 = if lower >= 0.0 && r1 < lower { lower } else { r1 };
    let r1 = if upper >= 0.0 && upper < r1 { upper } else { r1 };
    if r1 == 0.0 || r2 == 0.0 {
        1.0
    } else {
        r1 / r2
    }
}

/// The phase operators' scalars in the weight's dtype `D`.
struct PhaseIn<D> {
    lr: D,
    wd: D,
    beta1: D,
    beta2: D,
    /// `D(pow(double(beta), t))`.
    beta1_t: D,
    beta2_t: D,
    epsilon: D,
    rescale_grad: D,
    clip: D,
    lower_bound: D,
    upper_bound: D,
    bias_correction: bool,
}

impl<D: Wide> PhaseIn<D> {
    fn new(s: &LambScalars, bias_correction: bool) -> Self {
        let power = |beta: f32| D::from_f64(f64::from(beta).powf(s.t as f64));
        PhaseIn {
            lr: D::from_f32(s.lr),
            wd: D::from_f32(s.wd),
            beta1: D::from_f32(s.beta1),
            beta2: D::from_f32(s.beta2),
            beta1_t: power(s.beta1),
            beta2_t: power(s.beta2),
            epsilon: D::from_f32(s.epsilon),
            rescale_grad: D::from_f32(s.rescale_grad),
            clip: D::from_f32(s.clip),
            lower_bound: D::from_f32(s.lower_bound),
            upper_bound: D::from_f32(s.upper_bound),
            bias_correction,
        }
    }
}

/// MXNet's `lamb_update_phase1`, `NDArray.norm` of the weight and of the direction, and
/// `lamb_update_phase2`, for one tensor.
fn phase<D: Wide>(s: &PhaseIn<D>, w: &mut [D], g: &[D], mean: &mut [D], var: &mut [D]) {
    let mut direction = D::spare().take(w.len());
    direction.reserve(w.len());
    for k in 0..w.len() {
        let x = g[k] * s.rescale_grad;
        let x = clip(x, s.clip);
        let m = s.beta1 * mean[k] + (D::ONE - s.beta1) * x;
        let v = s.beta2 * var[k] + ((D::ONE - s.beta2) * x) * x;
        (mean[k], var[k]) = (m, v);
        let d = if s.bias_correction {
            let m_hat = D::from_f64(m.wide() / (1.0 - s.beta1_t.wide()));
            let v_hat = v / (D::ONE - s.beta2_t);
            m_hat / (v_hat.sqrt() + s.epsilon) + s.wd * w[k]
        } else {
            m / (v.sqrt() + s.epsilon) + s.wd * w[k]
        };
        direction.push(d);
    }
    let (r1, r2) = (norm(w), norm(&direction));
    let zero = D::from_f32(0.0);
    let r1 = if s.lower_bound >= zero { maximum(r1, s.lower_bound) } else { r1 };
    let r1 = if s.upper_bound >= zero { minimum(r1, s.upper_bound) } else { r1 };
    let lr = if r1 == zero || r2 == zero { s.lr } else { (s.lr * r1) / r2 };
    for (w, &d) in w.iter_mut().zip(&direction) {
        *w = *w - lr * d;
    }
    D::spare().give_back(direction);
}

/// `minimum(a, b)` as MXNet's NDArray defines it: `a` if `a` is NaN, else the smaller.
fn minimum<D: Real>(a: D, b: D) -> D {
    if a < b || a.is_nan() {
        a
    } else {
        b
    }
}

/// `NDArray.norm()`: LAPACK's scaled sum of squares, in element order, in `D`.
fn norm<D: Real>(x: &[D]) -> D {
    let zero = D::from_f32(0.0);
    let (mut scale, mut ssq) = (zero, D::ONE);
    for &v in x {
        if v == zero {
            continue;
        }
        let a = v.abs();
        if scale < a {
            let ratio = scale / a;
            ssq = D::ONE + (ssq * ratio) * ratio;
            scale = a;
        } else {
            let ratio = a / scale;
            ssq = ssq + ratio * ratio;
        }
    }
    scale * ssq.sqrt()
}

/// Frees the spare directions.
pub(crate) fn release_spare() {
    f32::spare().release();
    f64::spare().release();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trust_ratio_is_one_where_a_norm_is_zero_and_bounds_clamp_r1() {
        assert_eq!(trust_ratio(0.0, 2.0, -1.0, -1.0), 1.0);
        assert_eq!(trust_ratio(3.0, 0.0, -1.0, -1.0), 1.0);
        assert_eq!(trust_ratio(3.0, 2.0, 4.0, -1.0), 2.0);
        assert_eq!(trust_ratio(3.0, 2.0, -1.0, 1.0), 0.5);
    }

    #[test]
    fn the_norm_is_lapacks_scaled_sum() {
        assert_eq!(norm(&[3.0f64, 4.0]), 5.0);
        assert_eq!(norm::<f32>(&[]), 0.0);
        assert_eq!(norm(&[0.0f32, 0.0]), 0.0);
        // No overflow where a plain sum of squares would overflow.
        assert!((norm(&[3e30f32, 4e30]) - 5e30).abs() < 1e24);
    }
}
