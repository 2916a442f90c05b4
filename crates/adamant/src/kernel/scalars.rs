//! The scalars of one tensor's step, as the kernel sees them.

/// Where the weight-decay term joins the gradient, relative to clipping.
///
/// ```
/// assert_eq!(adamant::WdOrder::default(), adamant::WdOrder::AfterClip);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WdOrder {
    /// `clip(grad * rescale) + wd * w`: MXNet 2.0, the default.
    #[default]
    AfterClip,
    /// `clip(grad * rescale + wd * w)`: MXNet 1.x (1.9.1 included).
    BeforeClip,
}

/// The scalars of one tensor's step, rounded to float32 as MXNet's operator parameters are
/// (it parses every parameter with `std::stof`, also for float64 weights).
///
/// `lr` is the bias-corrected rate `lr * sqrt(1 - beta2^t) / (1 - beta1^t)`, computed in
/// float64 by the optimizer and rounded once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepScalars {
    /// The bias-corrected learning rate of this step.
    pub lr: f32,
    /// The first-moment decay.
    pub beta1: f32,
    /// The second-moment decay.
    pub beta2: f32,
    /// Added to `sqrt(v)`.
    pub epsilon: f32,
    /// The weight-decay coefficient, multiplier applied.
    pub wd: f32,
    /// Multiplies the raw gradient first.
    pub rescale_grad: f32,
    /// The clipping bound, or `None` for no clipping.
    pub clip_gradient: Option<f32>,
    /// Where weight decay joins the gradient.
    pub wd_order: WdOrder,
}

/// [`StepScalars`] converted once into the type the kernel computes in.
///
/// `1 - beta` is computed here, in `T`, from the float32-rounded beta, as MXNet's kernel does.
#[derive(Debug, Clone, Copy)]
pub struct Scalars<T> {
    /// Bias-corrected learning rate.
    pub lr: T,
    /// `beta1`.
    pub beta1: T,
    /// `1 - beta1`, computed in `T`.
    pub one_minus_beta1: T,
    /// `beta2`.
    pub beta2: T,
    /// `1 - beta2`, computed in `T`.
    pub one_minus_beta2: T,
    /// `epsilon`.
    pub epsilon: T,
    /// Weight decay.
    pub wd: T,
    /// Gradient rescale.
    pub rescale_grad: T,
    /// The clipping bound (meaningful only when `clip_on`).
    pub clip: T,
    /// Whether to clip.
    pub clip_on: bool,
    /// Whether weight decay is added before clipping (MXNet 1.x).
    pub wd_before_clip: bool,
}

impl<T: super::Real> Scalars<T> {
    /// Converts the float32 scalars into `T`.
    ///
    /// ```
    /// use adamant::kernel::{Scalars, StepScalars, WdOrder};
    /// let s = StepScalars { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, wd: 0.0,
    ///     rescale_grad: 1.0, clip_gradient: None, wd_order: WdOrder::AfterClip };
    /// let k = Scalars::<f64>::new(&s);
    /// assert_eq!(k.one_minus_beta1, 1.0 - f64::from(0.9f32));
    /// ```
    pub fn new(s: &StepScalars) -> Self {
        let beta1 = T::from_f32(s.beta1);
        let beta2 = T::from_f32(s.beta2);
        Scalars {
            lr: T::from_f32(s.lr),
            beta1,
            one_minus_beta1: T::ONE - beta1,
            beta2,
            one_minus_beta2: T::ONE - beta2,
            epsilon: T::from_f32(s.epsilon),
            wd: T::from_f32(s.wd),
            rescale_grad: T::from_f32(s.rescale_grad),
            clip: T::from_f32(s.clip_gradient.unwrap_or(0.0)),
            clip_on: s.clip_gradient.is_some(),
            wd_before_clip: s.wd_order == WdOrder::BeforeClip,
        }
    }
}
