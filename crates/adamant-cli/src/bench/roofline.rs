//! The roofline: streaming passes over the very arrays a step reads and writes (weights,
//! gradients and optimizer state), on the same threads, compiled for the same instruction set
//! as the step, changing no bit: each word is combined with `word & zero`, where `zero` is a
//! run-time 0 the compiler cannot see through, so every load and store happens. Using the
//! step's own memory matters: two sets of arrays of the same size can stream at rates that
//! differ by a third, depending on where their pages landed.

use adamant::{DataMut, DataRef, Isa};

/// Elements per parallel piece.
const PIECE: usize = 16 * 1024;

/// The most arrays a step rewrites: the weight, a master copy, and three moments.
const MAX_REWRITTEN: usize = 5;

/// A zero the compiler cannot see through, so that no load or store is dropped.
pub fn zero() -> u64 {
    std::hint::black_box(0)
}

/// A tensor's arrays as bytes, with their element sizes: those the step rewrites, and the one
/// it only reads (the gradient).
#[derive(Debug, Default)]
pub struct Span<'a> {
    rewritten: [(&'a mut [u8], usize); MAX_REWRITTEN],
    read: (&'a [u8], usize),
    elements: usize,
}

/// The bytes of a weight or state array.
pub fn bytes_mut<'a>(data: DataMut<'a>) -> (&'a mut [u8], usize) {
    match data {
        DataMut::F16(d) => (bytemuck::cast_slice_mut(d), 2),
        DataMut::BF16(d) => (bytemuck::cast_slice_mut(d), 2),
        DataMut::F32(d) => (bytemuck::cast_slice_mut(d), 4),
        DataMut::F64(d) => (bytemuck::cast_slice_mut(d), 8),
        _ => (&mut [], 1),
    }
}

/// The bytes of a gradient.
pub fn bytes<'a>(data: DataRef<'a>) -> (&'a [u8], usize) {
    match data {
        DataRef::F16(d) => (bytemuck::cast_slice(d), 2),
        DataRef::BF16(d) => (bytemuck::cast_slice(d), 2),
        DataRef::F32(d) => (bytemuck::cast_slice(d), 4),
        DataRef::F64(d) => (bytemuck::cast_slice(d), 8),
        _ => (&[], 1),
    }
}

impl<'a> Span<'a> {
    /// The first `elements` elements of `rewritten` and of `read` (each given with its element
    /// size), if the step reads a gradient that long.
    pub fn new(
        rewritten: impl IntoIterator<Item = (&'a mut [u8], usize)>,
        read: Option<(&'a [u8], usize)>,
        elements: usize,
    ) -> Self {
        let read = read.map_or((&[][..], 0), |(bytes, size)| (&bytes[..elements * size], size));
        let mut span = Span { read, elements, ..Span::default() };
        for (slot, (array, size)) in span.rewritten.iter_mut().zip(rewritten) {
            *slot = (&mut array[..elements * size], size);
        }
        span
    }

    fn split_at(self, mid: usize) -> (Span<'a>, Span<'a>) {
        let (read, elements) = (self.read, self.elements);
        let (read_a, read_b) = read.0.split_at(mid * read.1);
        let mut pairs = self.rewritten.map(|(a, size)| {
            let (x, y) = a.split_at_mut(mid * size);
            ((x, size), (y, size))
        });
        let first = pairs.each_mut().map(|(x, _)| (std::mem::take(&mut x.0), x.1));
        let second = pairs.map(|(_, y)| y);
        (
            Span { rewritten: first, read: (read_a, read.1), elements: mid },
            Span { rewritten: second, read: (read_b, read.1), elements: elements - mid },
        )
    }

    /// Streams the span, in parallel pieces on the current rayon pool.
    pub fn stream(self, zero: u64) {
        let elements = self.elements;
        if elements <= PIECE {
            for (array, _) in self.rewritten {
                rewrite(array, zero);
            }
            std::hint::black_box(read(self.read.0, zero));
            return;
        }
        let (a, b) = self.split_at(elements / 2);
        rayon::join(|| a.stream(zero), || b.stream(zero));
    }
}

/// Reads and writes back every byte of `bytes`, unchanged when `zero` is 0.
pub fn rewrite(bytes: &mut [u8], zero: u64) {
    let (head, words, tail) = bytemuck::pod_align_to_mut::<u8, u64>(bytes);
    rewrite_bytes(head, zero);
    rewrite_words(words, zero);
    rewrite_bytes(tail, zero);
}

/// Reads every byte of `bytes`; the result depends on them (and is 0 when `zero` is 0).
fn read(bytes: &[u8], zero: u64) -> u64 {
    let (head, words, tail) = bytemuck::pod_align_to::<u8, u64>(bytes);
    read_bytes(head, zero) ^ read_words(words, zero) ^ read_bytes(tail, zero)
}

fn rewrite_bytes(bytes: &mut [u8], zero: u64) {
    bytes.iter_mut().for_each(|b| *b ^= *b & zero as u8);
}

fn read_bytes(bytes: &[u8], zero: u64) -> u64 {
    bytes.iter().fold(0, |acc, &b| acc ^ (u64::from(b) & zero))
}

/// Defines `$name`, which runs `$body` compiled for the instruction set the library's kernels
/// use ([`Isa::current`]), as the step's loops are.
macro_rules! per_isa {
    ($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $body:expr) => {
        fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn avx2($($arg: $ty),*) -> $ret {
                $body
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2")]
            fn avx512($($arg: $ty),*) -> $ret {
                $body
            }
            match Isa::current() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: Isa::current() is Avx512 only where the CPU has AVX-512F and AVX2.
                Isa::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: Isa::current() is Avx2 only where the CPU has AVX2.
                Isa::Avx2 => unsafe { avx2($($arg),*) },
                _ => $body,
            }
        }
    };
}

per_isa!(rewrite_words(words: &mut [u64], zero: u64) -> () => words.iter_mut().for_each(|w| *w ^= *w & zero));
per_isa!(read_words(words: &[u64], zero: u64) -> u64 => words.iter().fold(0, |acc, &w| acc ^ (w & zero)));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_with_zero_changes_no_bit_and_covers_every_piece() {
        let mut w: Vec<f32> = (0..40_001).map(|i| i as f32 * 0.5 - 3.0).collect();
        let mut m: Vec<half::bf16> = (0..40_001).map(|i| half::bf16::from_f32(i as f32)).collect();
        let g = vec![f64::NAN; 40_001];
        let (w0, m0) = (w.clone(), m.clone());
        let span = Span::new(
            [bytes_mut(DataMut::F32(&mut w)), bytes_mut(DataMut::BF16(&mut m))],
            Some(bytes(DataRef::F64(&g))),
            40_001,
        );
        span.stream(zero());
        assert_eq!(w, w0);
        assert_eq!(m, m0);
        // With a mask that is not zero every word is changed: the pass reaches every byte.
        let mut ones = vec![0xffu8; 1001];
        rewrite(&mut ones, u64::MAX);
        assert!(ones.iter().all(|&b| b == 0));
    }
}
