//! PyTorch's Adam, AdamW and SparseAdam (`rule = "torch"`), as `torch.optim` computes them on the
//! CPU (its single-tensor path): epsilon added after the bias correction of the second moment,
//! Adam's weight decay as an L2 term, AdamW's as `p *= 1 - lr * wd`, AMSGrad and maximize; and for
//! lazy row-sparse gradients `torch.optim.SparseAdam`, whose formula is not Adam's on rows.
//!
//! PyTorch computes its scalars (`1 - beta1`, the bias corrections, the step size) in float64 and
//! its kernels take them in the tensor's type; so does this rule. PyTorch's CPU kernels fuse
//! some multiply-adds, which this rule does not (its results are therefore compared with
//! PyTorch's within a tolerance, not bitwise).

use crate::error::{Error, Result};
use crate::kernel::element::DType;
use crate::kernel::formula::{Factory, Formula};
use crate::kernel::{Loop, Real};
use crate::optimizer::algorithm::Counted;
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::dispatch::{self, Options};
use crate::optimizer::kernel_values::{self, nearest};
use crate::optimizer::state::StateMut;
use crate::param::{Grad, Param};

/// The state arrays of PyTorch's Adam, AdamW and SparseAdam, with AMSGrad's third.
pub(crate) const ARRAYS: &[&str] = &["exp_avg", "exp_avg_sq"];
/// With AMSGrad.
pub(crate) const AMSGRAD_ARRAYS: &[&str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

/// How weight decay enters PyTorch's update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decay {
    /// Adam's: `g += wd * p`.
    Coupled,
    /// AdamW's: `p *= 1 - lr * wd`, before the update.
    Decoupled,
}

/// The scalars of one step, in float64 as PyTorch computes them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scalars {
    /// `rescale_grad`, negated under `maximize`.
    rescale: f64,
    beta2: f64,
    one_minus_beta1: f64,
    one_minus_beta2: f64,
    epsilon: f64,
    wd: f64,
    /// `1 - lr * wd` (AdamW).
    decay: f64,
    /// `-lr / (1 - beta1^t)` (Adam, AdamW).
    neg_step_size: f64,
    /// `sqrt(1 - beta2^t)`.
    bc2_sqrt: f64,
    /// `-lr * sqrt(1 - beta2^t) / (1 - beta1^t)` (SparseAdam).
    neg_sparse_step_size: f64,
}

/// What a PyTorch-rule optimizer is configured with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    pub decay: Decay,
}

impl Config {
    /// Checks the betas and epsilon as a float32 tensor's kernel reads them.
    pub fn validate(&self) -> Result<()> {
        kernel_values::beta(nearest, "beta1", self.beta1)?;
        kernel_values::beta(nearest, "beta2", self.beta2)?;
        kernel_values::epsilon(nearest, "epsilon", self.epsilon)?;
        Ok(())
    }

    /// The scalars of the step counted as `c`, each checked as a float32 kernel reads it.
    pub fn step(&self, c: &Counted, base: &OptimizerConfig) -> Result<Scalars> {
        let t = c.t as f64;
        let (bc1, bc2) = (1.0 - self.beta1.powf(t), 1.0 - self.beta2.powf(t));
        let step_size = c.lr / bc1;
        let what = "the step size lr * lr_mult / (1 - beta1^t)";
        kernel_values::step_value(nearest, "learning_rate", c.base_lr, c.index, c.t, what, step_size)?;
        kernel_values::step_value(nearest, "wd", base.wd, c.index, c.t, "wd * wd_mult", c.wd)?;
        let decay = 1.0 - c.lr * c.wd;
        if self.decay == Decay::Decoupled {
            let what = "AdamW's factor 1 - lr * lr_mult * wd * wd_mult";
            kernel_values::step_value(nearest, "wd", base.wd, c.index, c.t, what, decay)?;
        }
        let rescale_grad = base.rescale_grad;
        Ok(Scalars {
            rescale: if self.maximize { -rescale_grad } else { rescale_grad },
            beta2: self.beta2,
            one_minus_beta1: 1.0 - self.beta1,
            one_minus_beta2: 1.0 - self.beta2,
            epsilon: self.epsilon,
            wd: c.wd,
            decay,
            neg_step_size: -step_size,
            bc2_sqrt: bc2.sqrt(),
            neg_sparse_step_size: -(c.lr * bc2.sqrt() / bc1),
        })
    }

    /// Checks what this rule refuses of a parameter: SparseAdam (lazy rows) has no AMSGrad, and
    /// half-precision weights need float32 master weights.
    pub fn check(&self, param: &Param<'_>, lazy: bool, base: &OptimizerConfig) -> Result<()> {
        let dtype = param.weight.data.dtype();
        if matches!(dtype, DType::F16 | DType::BF16) && !base.multi_precision {
            return Err(Error::DTypeUnsupported {
                index: param.index,
                dtype,
                what: "weights need multi_precision under rule torch (PyTorch's half-precision arithmetic \
                       rounds after every operation; with multi_precision adamant keeps float32 master \
                       weights and state, as AMP does)",
            });
        }
        if lazy && self.amsgrad && matches!(param.grad, Grad::RowSparse(_)) {
            return Err(Error::SparseUnsupported {
                index: param.index,
                what: "amsgrad (PyTorch's SparseAdam, the lazy row-sparse update of rule torch, has none)",
            });
        }
        Ok(())
    }

    /// Checks the decay of a counted step: SparseAdam (lazy rows) has none.
    pub fn check_counted(&self, param: &Param<'_>, lazy: bool, wd: f64) -> Result<()> {
        if lazy && wd != 0.0 && matches!(param.grad, Grad::RowSparse(_)) {
            return Err(Error::SparseUnsupported {
                index: param.index,
                what:
                    "weight decay (PyTorch's SparseAdam, the lazy row-sparse update of rule torch, has none)",
            });
        }
        Ok(())
    }

    /// Runs one parameter's step.
    pub fn apply(&self, s: &Scalars, param: &mut Param<'_>, state: &mut StateMut<'_>, o: Options, l: Loop) {
        if o.lazy && matches!(param.grad, Grad::RowSparse(_)) {
            return dispatch::step(&SparseAdam(*s), param, state, o, l);
        }
        let decay = if s.wd == 0.0 { None } else { Some(self.decay) };
        match (decay, self.amsgrad) {
            (None, false) => dispatch::step::<_, 2>(&Adam::<NO_DECAY>(*s), param, state, o, l),
            (None, true) => dispatch::step::<_, 3>(&Adam::<NO_DECAY>(*s), param, state, o, l),
            (Some(Decay::Coupled), false) => dispatch::step::<_, 2>(&Adam::<COUPLED>(*s), param, state, o, l),
            (Some(Decay::Coupled), true) => dispatch::step::<_, 3>(&Adam::<COUPLED>(*s), param, state, o, l),
            (Some(Decay::Decoupled), false) => {
                dispatch::step::<_, 2>(&Adam::<DECOUPLED>(*s), param, state, o, l)
            }
            (Some(Decay::Decoupled), true) => {
                dispatch::step::<_, 3>(&Adam::<DECOUPLED>(*s), param, state, o, l)
            }
        }
    }
}

const NO_DECAY: u8 = 0;
const COUPLED: u8 = 1;
const DECOUPLED: u8 = 2;

/// PyTorch's Adam (`DECAY` = [`COUPLED`]) and AdamW (`DECAY` = [`DECOUPLED`]), with AMSGrad when
/// the state has three arrays.
#[derive(Debug, Clone, Copy)]
struct Adam<const DECAY: u8>(Scalars);

/// [`Adam`]'s scalars in the compute type.
#[derive(Debug, Clone, Copy)]
struct AdamIn<C, const DECAY: u8> {
    rescale: C,
    beta2: C,
    one_minus_beta1: C,
    one_minus_beta2: C,
    epsilon: C,
    wd: C,
    decay: C,
    neg_step_size: C,
    bc2_sqrt: C,
}

/// `torch.lerp(start, end, weight)` on the CPU.
#[inline(always)]
fn lerp<C: Real>(start: C, end: C, weight: C) -> C {
    let half = C::from_f32(0.5);
    if weight < half {
        start + weight * (end - start)
    } else {
        end - (end - start) * (C::ONE - weight)
    }
}

/// `torch.maximum`: NaN if either is NaN.
#[inline(always)]
fn maximum<C: Real>(a: C, b: C) -> C {
    if a.is_nan() || a > b {
        a
    } else {
        b
    }
}

impl<C: Real, const DECAY: u8, const K: usize> Formula<C, K> for AdamIn<C, DECAY> {
    #[inline(always)]
    fn update(&self, w: C, g: C, s: &mut [C; K]) -> C {
        let mut g = g * self.rescale;
        let mut p = w;
        if DECAY == DECOUPLED {
            p = p * self.decay;
        }
        if DECAY == COUPLED {
            g = g + self.wd * p;
        }
        let m = lerp(s[0], g, self.one_minus_beta1);
        let v = s[1] * self.beta2 + (self.one_minus_beta2 * g) * g;
        let v_hat = match s.get_mut(2) {
            Some(v_max) => {
                *v_max = maximum(*v_max, v);
                *v_max
            }
            None => v,
        };
        (s[0], s[1]) = (m, v);
        let denom = v_hat.sqrt() / self.bc2_sqrt + self.epsilon;
        p + (self.neg_step_size * m) / denom
    }
}

macro_rules! factory {
    ($k:literal) => {
        impl<const DECAY: u8> Factory<$k> for Adam<DECAY> {
            type For<C: Real> = AdamIn<C, DECAY>;
            fn rule<C: Real>(&self) -> AdamIn<C, DECAY> {
                let s = &self.0;
                AdamIn {
                    rescale: C::from_f64(s.rescale),
                    beta2: C::from_f64(s.beta2),
                    one_minus_beta1: C::from_f64(s.one_minus_beta1),
                    one_minus_beta2: C::from_f64(s.one_minus_beta2),
                    epsilon: C::from_f64(s.epsilon),
                    wd: C::from_f64(s.wd),
                    decay: C::from_f64(s.decay),
                    neg_step_size: C::from_f64(s.neg_step_size),
                    bc2_sqrt: C::from_f64(s.bc2_sqrt),
                }
            }
        }
    };
}
factory!(2);
factory!(3);

/// `torch.optim.SparseAdam` on the listed rows: `m += (g - m) * (1 - beta1)`,
/// `v += (g^2 - v) * (1 - beta2)`, `p += -step * (m / (sqrt(v) + eps))` with
/// `step = lr * sqrt(1 - beta2^t) / (1 - beta1^t)` and `v` not bias-corrected under the root.
#[derive(Debug, Clone, Copy)]
struct SparseAdam(Scalars);

/// [`SparseAdam`]'s scalars in the compute type.
#[derive(Debug, Clone, Copy)]
struct SparseAdamIn<C> {
    rescale: C,
    one_minus_beta1: C,
    one_minus_beta2: C,
    epsilon: C,
    neg_step_size: C,
}

impl<C: Real> Formula<C, 2> for SparseAdamIn<C> {
    #[inline(always)]
    fn update(&self, w: C, g: C, s: &mut [C; 2]) -> C {
        let g = g * self.rescale;
        let (m, v) = (s[0], s[1]);
        let m_update = (g - m) * self.one_minus_beta1;
        let v_update = (g * g - v) * self.one_minus_beta2;
        (s[0], s[1]) = (m + m_update, v + v_update);
        let numer = m_update + m;
        let denom = (v_update + v).sqrt() + self.epsilon;
        w + self.neg_step_size * (numer / denom)
    }
}

impl Factory<2> for SparseAdam {
    type For<C: Real> = SparseAdamIn<C>;
    fn rule<C: Real>(&self) -> SparseAdamIn<C> {
        let s = &self.0;
        SparseAdamIn {
            rescale: C::from_f64(s.rescale),
            one_minus_beta1: C::from_f64(s.one_minus_beta1),
            one_minus_beta2: C::from_f64(s.one_minus_beta2),
            epsilon: C::from_f64(s.epsilon),
            neg_step_size: C::from_f64(s.neg_sparse_step_size),
        }
    }
}
