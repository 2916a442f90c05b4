//! How MXNet reads a hyper-parameter. Its Python layer hands an operator no numbers: it writes
//! every keyword argument as `str(value)` (Python's shortest round-trip `repr`) and the C++ side
//! parses that text with dmlc-core's own `ParseFloat`, not the C library's. The result is
//! usually, but not always, the nearest float: a value of 1 or more with a fraction is rounded
//! twice (the fraction to float, then the sum), and a value written with an exponent (below
//! 1e-4, or from 1e16) is rounded several times. Fine-tuning rates such as 3e-5 give some steps
//! a rate one ulp off the nearest float, and MXNet trains with that rate.
//!
//! This module writes the text as Python does and parses it as dmlc-core does, for the three
//! kinds of fields MXNet's operators have: `float` fields ([`float_field`]), `double` fields
//! ([`double_field`], the scalar of NDArray arithmetic) and `Tuple<float>` fields
//! ([`tuple_field`], read by `std::istream`, correctly rounded).

#![deny(clippy::arithmetic_side_effects)]

use std::ops::{Add, Div, Mul, Neg};

#[cfg(test)]
thread_local! {
    /// Texts parsed on this thread (the tests count them: a batch parses once per step value).
    pub(crate) static PARSES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// What MXNet's kernel reads from a `float` field given the Python float `x`.
pub(crate) fn float_field(x: f64) -> f32 {
    parse::<f32>(python_repr(x).as_str())
}

/// What MXNet reads from a `double` field (the scalar of `_mul_scalar` and the like) given `x`.
pub(crate) fn double_field(x: f64) -> f64 {
    parse::<f64>(python_repr(x).as_str())
}

/// A Python number as MXNet's NDArray arithmetic on a float32 array uses it (`x * 0.9` is
/// `_mul_scalar` with the double `double_field(0.9)`, rounded to the array's dtype). Adamax and
/// Nadam are written in NDArray operations; a float64 array uses [`double_field`] itself.
pub(crate) fn ndarray_scalar(x: f64) -> f32 {
    double_field(x) as f32
}

/// What MXNet reads from an element of a `Tuple<float>` field given `x`: the float nearest to
/// the text.
pub(crate) fn tuple_field(x: f64) -> f32 {
    python_repr(x).as_str().parse().unwrap_or(f32::NAN)
}

/// Text on the stack: every step computes its scalars through [`python_repr`], and a step
/// allocates nothing. Python's `repr` of a float64 takes at most 24 bytes.
pub(crate) struct Text {
    bytes: [u8; 40],
    len: usize,
}

impl Text {
    fn new() -> Self {
        Text { bytes: [0; 40], len: 0 }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len = self.len.saturating_add(1);
        }
    }

    fn push_all(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.push(b));
    }

    fn zeros(&mut self, n: i32) {
        (0..n).for_each(|_| self.push(b'0'));
    }
}

impl std::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len.saturating_add(s.len()) > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.push_all(s.as_bytes());
        Ok(())
    }
}

/// Python's `repr(x)`: the shortest digits that read back as `x`, positional for
/// `1e-4 <= |x| < 1e16` (`0.0001`, `1.32`, `2.0`) and otherwise `d.ddde-XX` (`2.3e-05`,
/// `1e+16`).
pub(crate) fn python_repr(x: f64) -> Text {
    use std::fmt::Write;
    let mut out = Text::new();
    if x.is_nan() {
        out.push_all(b"nan");
        return out;
    }
    if x.is_sign_negative() {
        out.push(b'-');
    }
    if x.is_infinite() {
        out.push_all(b"inf");
        return out;
    }
    if x == 0.0 {
        out.push_all(b"0.0");
        return out;
    }
    // Rust's `{:e}` gives the same shortest digits, laid out as `d.ddde-N`.
    let mut scientific = Text::new();
    let _ = write!(scientific, "{:e}", x.abs());
    let (mantissa, exponent) = scientific.as_str().split_once('e').unwrap_or((scientific.as_str(), "0"));
    let mut digits = Text::new();
    mantissa.bytes().filter(u8::is_ascii_digit).for_each(|b| digits.push(b));
    let digits = &digits.bytes[..digits.len];
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Python's decimal point position: x = 0.d1d2... * 10^point.
    let point = exponent.saturating_add(1);
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if -4 < point && point <= 16 {
        if point <= 0 {
            out.push_all(b"0.");
            out.zeros(point.saturating_neg());
            out.push_all(digits);
        } else if point >= n {
            out.push_all(digits);
            out.zeros(point.saturating_sub(n));
            out.push_all(b".0");
        } else {
            let (int, frac) = digits.split_at(usize::try_from(point).unwrap_or(0));
            out.push_all(int);
            out.push(b'.');
            out.push_all(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_all(first);
        if !rest.is_empty() {
            out.push(b'.');
            out.push_all(rest);
        }
        let _ = write!(out, "e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.unsigned_abs());
    }
    out
}

/// The two types dmlc-core parses into.
trait Parsed: Copy + Add<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self> {
    const ONE: Self;
    const INFINITY: Self;
    const NAN: Self;
    /// `1e8` and `10`, as the parser builds its scale.
    const E8: Self;
    const TEN: Self;
    /// The largest exponent, and the significands it allows (the parser clips beyond them).
    const MAX_EXPONENT: u32;
    const MAX_SIGNIFICAND: Self;
    const MIN_SIGNIFICAND: Self;
    fn from_u64(x: u64) -> Self;
    fn from_f64(x: f64) -> Self;
    fn greater(self, other: Self) -> bool;
}

impl Parsed for f32 {
    const ONE: Self = 1.0;
    const INFINITY: Self = f32::INFINITY;
    const NAN: Self = f32::NAN;
    const E8: Self = 1e8;
    const TEN: Self = 10.0;
    const MAX_EXPONENT: u32 = 38;
    const MAX_SIGNIFICAND: Self = 3.402_823_5;
    const MIN_SIGNIFICAND: Self = 1.175_494_4;
    fn from_u64(x: u64) -> Self {
        x as f32
    }
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn greater(self, other: Self) -> bool {
        self > other
    }
}

impl Parsed for f64 {
    const ONE: Self = 1.0;
    const INFINITY: Self = f64::INFINITY;
    const NAN: Self = f64::NAN;
    const E8: Self = 1e8;
    const TEN: Self = 10.0;
    const MAX_EXPONENT: u32 = 308;
    const MAX_SIGNIFICAND: Self = 1.797_693_134_862_315_7;
    const MIN_SIGNIFICAND: Self = 2.225_073_858_507_201_4;
    fn from_u64(x: u64) -> Self {
        x as f64
    }
    fn from_f64(x: f64) -> Self {
        x
    }
    fn greater(self, other: Self) -> bool {
        self > other
    }
}

/// The most fraction digits the parser reads; it ignores the rest.
const MAX_FRACTION_DIGITS: u32 = 19;

/// dmlc-core's `ParseFloat<F>` of `text`: integer digits to `F`; up to 19 fraction digits as
/// `double(digits) / double(10^k)`, rounded to `F` and added in `F`; an exponent applied by a
/// scale built from `1e8` and `10` in `F`. Each step rounds as the C++ code does.
// The lint cannot tell that `F` is a float type, whose arithmetic never panics; the integer
// arithmetic here wraps explicitly, as the C++ code's unsigned arithmetic does.
#[allow(clippy::arithmetic_side_effects)]
fn parse<F: Parsed>(text: &str) -> F {
    #[cfg(test)]
    PARSES.with(|p| p.set(p.get() + 1));
    let mut rest = text.trim_start().as_bytes();
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = &rest[1..];
    }
    let mut word = [0u8; 3];
    word.iter_mut().zip(rest).for_each(|(w, b)| *w = b.to_ascii_lowercase());
    let signed = |x: F| if negative { -x } else { x };
    if &word == b"inf" {
        return signed(F::INFINITY);
    }
    if &word == b"nan" {
        return F::NAN;
    }
    let digits = |bytes: &[u8]| bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    // Integer part: accumulated in a u64 (wrapping, as C++'s unsigned arithmetic).
    let n = digits(rest);
    let integer =
        rest[..n].iter().fold(0u64, |i, &d| i.wrapping_mul(10).wrapping_add(u64::from(d.wrapping_sub(b'0'))));
    rest = &rest[n..];
    let mut value = F::from_u64(integer);
    if rest.first() == Some(&b'.') {
        rest = &rest[1..];
        let n = digits(rest);
        let (mut fraction, mut power) = (0u64, 1u64);
        for &d in rest[..n].iter().take(MAX_FRACTION_DIGITS as usize) {
            fraction = fraction.wrapping_mul(10).wrapping_add(u64::from(d.wrapping_sub(b'0')));
            power = power.wrapping_mul(10);
        }
        rest = &rest[n..];
        value = value + F::from_f64(fraction as f64 / power as f64);
    }
    if matches!(rest.first(), Some(b'e' | b'E')) {
        rest = &rest[1..];
        let shrink = rest.first() == Some(&b'-');
        if matches!(rest.first(), Some(b'-' | b'+')) {
            rest = &rest[1..];
        }
        let n = digits(rest);
        let exponent = rest[..n]
            .iter()
            .fold(0u32, |e, &d| e.wrapping_mul(10).wrapping_add(u32::from(d.wrapping_sub(b'0'))));
        let mut exponent = exponent.min(F::MAX_EXPONENT);
        if exponent == F::MAX_EXPONENT {
            if !shrink && value.greater(F::MAX_SIGNIFICAND) {
                value = F::MAX_SIGNIFICAND;
            } else if shrink && F::MIN_SIGNIFICAND.greater(value) {
                value = F::MIN_SIGNIFICAND;
            }
        }
        let mut scale = F::ONE;
        while exponent >= 8 {
            scale = scale * F::E8;
            exponent = exponent.saturating_sub(8);
        }
        while exponent > 0 {
            scale = scale * F::TEN;
            exponent = exponent.saturating_sub(1);
        }
        value = if shrink { value / scale } else { value * scale };
    }
    signed(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_lays_out_digits_as_python_does() {
        for (x, text) in [
            (0.0001, "0.0001"),
            (0.3333333333333333, "0.3333333333333333"),
            (1.32, "1.32"),
            (2.0, "2.0"),
            (2.3e-5, "2.3e-05"),
            (1e-7, "1e-07"),
            (3.3333333333333335e-5, "3.3333333333333335e-05"),
            (1e16, "1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (123456.0, "123456.0"),
            (-0.5, "-0.5"),
            (-0.0, "-0.0"),
            (1.5e300, "1.5e+300"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(python_repr(x).as_str(), text);
        }
    }

    #[test]
    fn float_fields_read_as_dmlc_core_reads_them() {
        // The examples of the golden files' README: not always the nearest float.
        assert_eq!(float_field(1.32).to_bits(), 0x3fa8_f5c2);
        assert_eq!((1.32f64 as f32).to_bits(), 0x3fa8_f5c3);
        assert_eq!(float_field(2.3e-5).to_bits(), 0x37c0_f01f);
        assert_eq!(float_field(7.059501759823583e-06).to_bits(), 0x36ec_e0a8);
        for x in [1e-7, 2.5e-5, 1.7, 0.3333333333333333, 0.9, 0.999, 1e-8, 0.001] {
            assert_eq!(float_field(x), x as f32, "{x}");
        }
        assert_eq!(tuple_field(2.3e-5), 2.3e-5f32);
        assert!(float_field(f64::NAN).is_nan());
        assert_eq!(float_field(-1.32), -float_field(1.32));
    }

    #[test]
    fn double_fields_are_not_exact_either() {
        // MXNet's parser: Nadam's 1 - m_schedule_next arrives one ulp off.
        assert_eq!(double_field(0.9087857125840941), 0.908785712584094);
        assert_eq!(double_field(0.5), 0.5);
    }
}
