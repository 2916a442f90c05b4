//! Adam as tensor libraries run it without fusion: one parallel pass over whole arrays per
//! arithmetic operation, with temporaries. It is here to be compared with, not used.

use rayon::prelude::*;

const CHUNK: usize = 16 * 1024;

/// Arrays of an unfused Adam step on float32.
pub struct OpByOp {
    /// Weight.
    pub w: Vec<f32>,
    /// Gradient.
    pub g: Vec<f32>,
    /// First moment.
    pub m: Vec<f32>,
    /// Second moment.
    pub v: Vec<f32>,
    t1: Vec<f32>,
    t2: Vec<f32>,
    step: u32,
}

fn unary(out: &mut [f32], a: &[f32], f: impl Fn(f32) -> f32 + Sync) {
    out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).for_each(|(o, a)| {
        o.iter_mut().zip(a).for_each(|(o, &a)| *o = f(a));
    });
}

fn binary(out: &mut [f32], a: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).for_each(|(o, a)| {
        o.iter_mut().zip(a).for_each(|(o, &a)| *o = f(*o, a));
    });
}

fn scale(out: &mut [f32], c: f32) {
    out.par_chunks_mut(CHUNK).for_each(|o| o.iter_mut().for_each(|o| *o *= c));
}

impl OpByOp {
    /// Arrays of `n` elements.
    pub fn new(w: Vec<f32>, g: Vec<f32>) -> Self {
        let n = w.len();
        OpByOp { w, g, m: vec![0.0; n], v: vec![0.0; n], t1: vec![0.0; n], t2: vec![0.0; n], step: 0 }
    }

    /// One Adam step (lr 1e-3, betas 0.9/0.999, eps 1e-8, no weight decay or clipping), one
    /// pass per operation.
    pub fn step(&mut self) {
        self.step += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let t = f64::from(self.step);
        let lr = (1e-3 * (1.0 - 0.999f64.powf(t)).sqrt() / (1.0 - 0.9f64.powf(t))) as f32;
        let OpByOp { w, g, m, v, t1, t2, .. } = self;
        scale(m, b1); //                         m *= b1
        unary(t1, g, |g| g * (1.0 - b1)); //     t1 = (1 - b1) g
        binary(m, t1, |m, t| m + t); //          m += t1
        scale(v, b2); //                         v *= b2
        unary(t1, g, |g| g * g); //              t1 = g^2
        scale(t1, 1.0 - b2); //                  t1 *= 1 - b2
        binary(v, t1, |v, t| v + t); //          v += t1
        unary(t2, v, f32::sqrt); //              t2 = sqrt(v)
        t2.par_chunks_mut(CHUNK).for_each(|d| d.iter_mut().for_each(|d| *d += eps)); // t2 += eps
        unary(t1, m, |m| m * lr); //             t1 = lr m
        binary(t1, t2, |a, d| a / d); //         t1 /= t2
        binary(w, t1, |w, u| w - u); //          w -= t1
    }
}
