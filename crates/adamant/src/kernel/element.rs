//! The Adam update of one element: the only place the formula is written.

use super::{Real, Scalars};

/// `clip(x, b)` as MXNet defines it: `b` if `x > b`, `-b` if `x < -b`, else `x`, so NaN passes.
#[inline(always)]
pub fn clip<T: Real>(x: T, bound: T) -> T {
    if x > bound {
        bound
    } else if x < -bound {
        -bound
    } else {
        x
    }
}

/// One element of the Adam step: returns the new `(w, m, v)`.
///
/// The operations and their association are MXNet's dense kernel's, so that the result is
/// bit-identical to it:
///
/// ```text
/// g = grad * rescale                 (+ w * wd here when wd_before_clip)
/// g = clip(g, clip)                  (when clip_on)
/// g = g + w * wd                     (when not wd_before_clip)
/// m = beta1 * m + (1 - beta1) * g
/// v = beta2 * v + ((1 - beta2) * g) * g
/// w = w - (lr * m) / (sqrt(v) + eps)
/// ```
///
/// `wd_before_clip` and `clip_on` are arguments rather than read from `s` so that a loop can
/// pass constants and have the branches compiled away; the reference loop passes `s`'s fields.
#[inline(always)]
pub fn adam<T: Real>(
    w: T,
    grad: T,
    m: T,
    v: T,
    s: &Scalars<T>,
    wd_before_clip: bool,
    clip_on: bool,
) -> (T, T, T) {
    let mut g = grad * s.rescale_grad;
    if wd_before_clip {
        g = g + w * s.wd;
    }
    if clip_on {
        g = clip(g, s.clip);
    }
    if !wd_before_clip {
        g = g + w * s.wd;
    }
    let m = s.beta1 * m + s.one_minus_beta1 * g;
    let v = s.beta2 * v + (s.one_minus_beta2 * g) * g;
    let w = w - (s.lr * m) / (v.sqrt() + s.epsilon);
    (w, m, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{StepScalars, WdOrder};

    fn scalars(clip: Option<f32>, wd_order: WdOrder) -> Scalars<f32> {
        Scalars::new(&StepScalars {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            wd: 0.5,
            rescale_grad: 1.0,
            clip_gradient: clip,
            wd_order,
        })
    }

    #[test]
    fn clip_passes_nan_and_bounds_both_sides() {
        assert!(clip(f32::NAN, 1.0).is_nan());
        assert_eq!(clip(3.0f32, 1.0), 1.0);
        assert_eq!(clip(-3.0f32, 1.0), -1.0);
        assert_eq!(clip(0.25f32, 1.0), 0.25);
    }

    #[test]
    fn wd_order_decides_whether_decay_is_clipped() {
        // g = 0.1, w = 2, wd = 0.5, clip = 0.3: before-clip gives clip(1.1) = 0.3,
        // after-clip gives 0.1 + 1.0 = 1.1.
        let before = scalars(Some(0.3), WdOrder::BeforeClip);
        let after = scalars(Some(0.3), WdOrder::AfterClip);
        let (_, m_before, _) = adam(2.0, 0.1, 0.0, 0.0, &before, true, true);
        let (_, m_after, _) = adam(2.0, 0.1, 0.0, 0.0, &after, false, true);
        assert_eq!(m_before, before.one_minus_beta1 * 0.3);
        assert_eq!(m_after, after.one_minus_beta1 * (0.1 + 2.0 * 0.5));
    }

    #[test]
    fn first_step_moves_by_about_lr_times_sign() {
        let s = Scalars::<f64>::new(&StepScalars {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            wd: 0.0,
            rescale_grad: 1.0,
            clip_gradient: None,
            wd_order: WdOrder::AfterClip,
        });
        // With bias correction folded into lr by the caller, one raw step moves w by
        // lr * (1-b1) / sqrt(1-b2) ~= 0.0316 * lr in the direction against the gradient.
        let (w, _, _) = adam(1.0, 3.0, 0.0, 0.0, &s, false, false);
        let expected = 1.0 - 0.01 * (0.1 / 0.001f64.sqrt());
        assert!((w - expected).abs() < 1e-6, "{w} vs {expected}");
    }
}
