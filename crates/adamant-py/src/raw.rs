//! Memory handed over from Python (a PyTorch tensor's or a numpy array's) as the library's
//! slices. This is the one place where addresses become slices; each caller has checked what
//! the `# Safety` sections ask.

use std::ops::Range;

use adamant::{DType, DataMut, DataRef};
use half::{bf16, f16};

/// A tensor's elements: where they start, their type and their count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw {
    /// The address of the first element (any value when `len` is 0).
    pub ptr: usize,
    pub dtype: DType,
    pub len: usize,
}

impl Raw {
    /// The bytes the elements span.
    pub fn bytes(&self) -> Range<usize> {
        let end = self.len.saturating_mul(self.dtype.size_bytes()).saturating_add(self.ptr);
        self.ptr..end
    }

    /// Whether the address is aligned for the element type (a view's offset may not be).
    pub fn aligned(&self) -> bool {
        self.len == 0 || self.ptr.is_multiple_of(self.dtype.size_bytes())
    }

    /// The elements, to change in place.
    ///
    /// # Safety
    /// `ptr` is the address of `len` elements of `dtype`, aligned, valid for reads and writes
    /// for `'a`, and no other reference to any of these bytes is used during `'a`.
    pub unsafe fn data_mut<'a>(self) -> DataMut<'a> {
        macro_rules! slice {
            ($t:ty) => {
                if self.len == 0 {
                    &mut []
                } else {
                    // SAFETY: the caller guarantees the address, length, alignment and
                    // exclusivity; a length of 0 never reaches here (the address may be null).
                    unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut $t, self.len) }
                }
            };
        }
        match self.dtype {
            DType::F16 => DataMut::F16(slice!(f16)),
            DType::BF16 => DataMut::BF16(slice!(bf16)),
            DType::F32 => DataMut::F32(slice!(f32)),
            DType::F64 => DataMut::F64(slice!(f64)),
            _ => DataMut::F32(&mut []),
        }
    }

    /// The elements, to read.
    ///
    /// # Safety
    /// `ptr` is the address of `len` elements of `dtype`, aligned, valid for reads for `'a`,
    /// and nothing writes them during `'a`.
    pub unsafe fn data_ref<'a>(self) -> DataRef<'a> {
        macro_rules! slice {
            ($t:ty) => {
                if self.len == 0 {
                    &[]
                } else {
                    // SAFETY: as for `data_mut`, for reads only.
                    unsafe { std::slice::from_raw_parts(self.ptr as *const $t, self.len) }
                }
            };
        }
        match self.dtype {
            DType::F16 => DataRef::F16(slice!(f16)),
            DType::BF16 => DataRef::BF16(slice!(bf16)),
            DType::F32 => DataRef::F32(slice!(f32)),
            DType::F64 => DataRef::F64(slice!(f64)),
            _ => DataRef::F32(&[]),
        }
    }
}

/// The first two of `written` and `read` byte ranges that overlap where at least one is
/// written, as their positions in `(written, read)` order; `None` when none do. Written ranges
/// may not overlap each other; a read range may overlap another read range.
pub fn first_overlap(written: &[Range<usize>], read: &[Range<usize>]) -> Option<(usize, usize)> {
    let mut w: Vec<(usize, usize)> =
        written.iter().enumerate().filter(|(_, r)| !r.is_empty()).map(|(i, r)| (r.start, i)).collect();
    w.sort_unstable();
    for pair in w.windows(2) {
        let (a, b) = (pair[0].1, pair[1].1);
        if written[a].end > written[b].start {
            return Some((a.min(b), a.max(b)));
        }
    }
    for (j, r) in read.iter().enumerate().filter(|(_, r)| !r.is_empty()) {
        // The written range that starts last at or before `r.end - 1`.
        let at = w.partition_point(|&(start, _)| start < r.end);
        if let Some(&(_, i)) = at.checked_sub(1).and_then(|k| w.get(k)) {
            if written[i].end > r.start {
                return Some((i, written.len() + j));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_between_written_ranges_and_with_read_ranges_are_found() {
        assert_eq!(first_overlap(&[0..8, 8..16], &[16..24, 16..20]), None, "reads may share");
        assert_eq!(first_overlap(&[8..16, 0..9], &[]), Some((0, 1)));
        assert_eq!(first_overlap(&[0..8, 16..24], &[4..5]), Some((0, 2)));
        assert_eq!(first_overlap(&[0..8, 16..24], &[8..16]), None);
        assert_eq!(first_overlap(&[0..8, 16..24], &[10..17]), Some((1, 2)));
        assert_eq!(first_overlap(&[0..0, 0..8], &[0..0]), None, "empty ranges hold nothing");
    }
}
