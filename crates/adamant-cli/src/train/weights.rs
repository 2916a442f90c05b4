//! `--dtype`: a model's parameters kept in the dtype the optimizer updates, with the float32
//! copy the model computes with, as mixed-precision training runs.

use adamant::{Buffer, DType, DataMut, DataRef};
use half::{bf16, f16};

/// One parameter: the float32 values the model computes with and, for a `--dtype` other than
/// float32, the stored weights the optimizer updates (the float32 values are their exact
/// widening, or for float64 their rounding).
#[derive(Debug, Clone)]
pub struct Weights {
    /// What the model computes with.
    pub values: Vec<f32>,
    stored: Option<Buffer>,
}

/// `values` rounded to `dtype` (float32 itself is not held twice).
fn round(values: &[f32], dtype: DType) -> Option<Buffer> {
    match dtype {
        DType::F16 => Some(Buffer::F16(values.iter().map(|&x| f16::from_f32(x)).collect())),
        DType::BF16 => Some(Buffer::BF16(values.iter().map(|&x| bf16::from_f32(x)).collect())),
        DType::F64 => Some(Buffer::F64(values.iter().map(|&x| f64::from(x)).collect())),
        _ => None,
    }
}

impl Weights {
    /// Initial values, stored in `dtype`.
    pub fn new(values: Vec<f32>, dtype: DType) -> Weights {
        let mut weights = Weights { stored: round(&values, dtype), values };
        weights.refresh(None);
        weights
    }

    /// Weights as a file held them.
    pub fn from_stored(stored: Buffer) -> Weights {
        match stored {
            Buffer::F32(values) => Weights { values, stored: None },
            stored => {
                let mut weights = Weights { values: vec![0.0; stored.len()], stored: Some(stored) };
                weights.refresh(None);
                weights
            }
        }
    }

    /// The weights the optimizer updates.
    pub fn data_mut(&mut self) -> DataMut<'_> {
        match &mut self.stored {
            Some(stored) => stored.as_mut(),
            None => DataMut::F32(&mut self.values),
        }
    }

    /// The stored weights, as they are saved.
    pub fn data(&self) -> DataRef<'_> {
        self.stored.as_ref().map_or(DataRef::F32(&self.values), Buffer::as_ref)
    }

    /// Makes the float32 values follow the stored weights after an update: the rows listed in
    /// `rows` (each `row_len` long), or all of them.
    pub fn refresh(&mut self, rows: Option<(&[i64], usize)>) {
        let Some(stored) = &self.stored else { return };
        let widen = |values: &mut [f32], from: usize| {
            let at = from..from + values.len();
            match stored.as_ref() {
                DataRef::F16(s) => values.iter_mut().zip(&s[at]).for_each(|(v, s)| *v = s.to_f32()),
                DataRef::BF16(s) => values.iter_mut().zip(&s[at]).for_each(|(v, s)| *v = s.to_f32()),
                DataRef::F64(s) => values.iter_mut().zip(&s[at]).for_each(|(v, &s)| *v = s as f32),
                _ => {}
            }
        };
        match rows {
            None => widen(&mut self.values, 0),
            Some((rows, row_len)) => {
                for &row in rows {
                    let start = row as usize * row_len;
                    widen(&mut self.values[start..start + row_len], start);
                }
            }
        }
    }
}

/// `g` as the optimizer takes it for weights of `dtype`: `g` itself for float32, otherwise
/// rounded into `scratch`.
pub fn gradient<'a>(g: &'a [f32], dtype: DType, scratch: &'a mut Option<Buffer>) -> DataRef<'a> {
    *scratch = round(g, dtype);
    scratch.as_ref().map_or(DataRef::F32(g), Buffer::as_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_float32_values_follow_the_stored_weights() {
        let mut w = Weights::new(vec![0.1, 0.2, 0.3, 0.4], DType::BF16);
        assert_eq!(w.values[0], bf16::from_f32(0.1).to_f32());
        if let DataMut::BF16(stored) = w.data_mut() {
            stored[3] = bf16::from_f32(2.0);
            stored[0] = bf16::from_f32(-1.0);
        }
        w.refresh(Some((&[1], 2)));
        assert_eq!((w.values[0], w.values[3]), (bf16::from_f32(0.1).to_f32(), 2.0), "only row 1 refreshed");
        let mut scratch = None;
        assert_eq!(gradient(&[0.5], DType::F32, &mut scratch).dtype(), DType::F32);
        assert_eq!(gradient(&[0.5], DType::F16, &mut scratch).dtype(), DType::F16);
    }
}
