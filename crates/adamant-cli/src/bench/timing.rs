//! Paired timing: each step is bracketed by two runs of the streaming loop that marks the
//! memory limit, because this machine's bandwidth drifts by up to 40% within minutes; a pair is
//! the step and the mean of the streams around it, and the fraction of the roofline is the
//! median of the per-pair ratios.

use std::time::Instant;

/// Seconds taken by `reps` steps, each paired with a streaming pass.
pub struct Paired {
    /// Step times.
    pub step: Vec<f64>,
    /// Streaming-loop times: the mean of the runs just before and just after each step.
    pub stream: Vec<f64>,
    /// Times of the twin step (the same elements as one tensor), right after each step.
    pub twin: Vec<f64>,
    /// Times of a plain read of the step's gradients, right after the twin (clipping scenarios).
    pub gradient_read: Vec<f64>,
}

fn seconds(f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// The median of `xs` (which is not empty).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs a warm-up step, then pairs until `budget` seconds have passed (at least `min_reps`, at
/// most `max_reps`); `on_rep` is called after each pair.
pub fn paired(
    step: &mut dyn FnMut(),
    mut twin: Option<&mut dyn FnMut()>,
    mut gradient_read: Option<&mut dyn FnMut()>,
    stream: &mut dyn FnMut(),
    budget: f64,
    (min_reps, max_reps): (usize, usize),
    on_rep: &mut dyn FnMut(),
) -> Paired {
    seconds(step);
    let mut out =
        Paired { step: Vec::new(), stream: Vec::new(), twin: Vec::new(), gradient_read: Vec::new() };
    if let Some(twin) = twin.as_mut() {
        seconds(*twin);
    }
    let start = Instant::now();
    let mut before = seconds(stream);
    while out.step.len() < min_reps || (out.step.len() < max_reps && start.elapsed().as_secs_f64() < budget) {
        let time = seconds(step);
        if let Some(twin) = twin.as_mut() {
            out.twin.push(seconds(*twin));
        }
        if let Some(read) = gradient_read.as_mut() {
            out.gradient_read.push(seconds(*read));
        }
        let after = seconds(stream);
        out.step.push(time);
        out.stream.push((before + after) / 2.0);
        before = after;
        on_rep();
    }
    out
}

impl Paired {
    /// The median over pairs of (streaming time / step time): 1 means the step runs at the
    /// speed of the streaming loop.
    pub fn fraction_of_roofline(&self) -> f64 {
        let ratios: Vec<f64> = self.stream.iter().zip(&self.step).map(|(s, t)| s / t).collect();
        median(&ratios)
    }

    /// The median over pairs of (twin time / step time), if there was a twin.
    pub fn fraction_of_twin(&self) -> Option<f64> {
        let ratios: Vec<f64> = self.twin.iter().zip(&self.step).map(|(w, t)| w / t).collect();
        (!ratios.is_empty()).then(|| median(&ratios))
    }

    /// The median over pairs of (step time - twin time) / (time of a plain read of the
    /// gradients), if both were timed: what a step costs beyond its twin, in reads of the
    /// gradients.
    pub fn extra_in_gradient_reads(&self) -> Option<f64> {
        let ratios: Vec<f64> = self
            .step
            .iter()
            .zip(&self.twin)
            .zip(&self.gradient_read)
            .map(|((s, w), r)| (s - w) / r)
            .collect();
        (!ratios.is_empty()).then(|| median(&ratios))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn fraction_is_the_median_of_pair_ratios() {
        let p = Paired {
            step: vec![1.0, 2.0, 4.0],
            stream: vec![0.5, 2.0, 3.0],
            twin: vec![0.5, 1.0, 1.0],
            gradient_read: vec![0.25, 0.5, 1.0],
        };
        assert_eq!(p.fraction_of_roofline(), 0.75);
        assert_eq!(p.fraction_of_twin(), Some(0.5));
        // (step - twin) / read per pair: 2, 2, 3.
        assert_eq!(p.extra_in_gradient_reads(), Some(2.0));
    }

    #[test]
    fn pairs_fill_the_time_asked_for_and_at_least_the_minimum() {
        let mut step = || std::thread::sleep(std::time::Duration::from_millis(1));
        let mut stream = || {};
        let p = paired(&mut step, None, None, &mut stream, 0.03, (5, usize::MAX), &mut || {});
        // The loop ends only once the budget has passed, however quick a pair is.
        let spent: f64 = p.step.iter().chain(&p.stream).sum();
        assert!(spent >= 0.025, "{} pairs took {spent} s of a 0.03 s budget", p.step.len());
        let p = paired(&mut step, None, None, &mut stream, 0.0, (5, usize::MAX), &mut || {});
        assert_eq!(p.step.len(), 5, "at least the minimum, even with no time");
    }
}
