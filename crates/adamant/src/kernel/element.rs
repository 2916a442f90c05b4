//! Element types: the run-time tag [`DType`], the compile-time trait [`Element`], and slices
//! and buffers whose element type is known only at run time ([`DataMut`], [`DataRef`],
//! [`Buffer`]), so that one batch can mix dtypes.

use std::fmt;
use std::ops::Add;

/// The element type of a weight, gradient or state array, known at run time.
///
/// The names print as MXNet and NumPy spell them.
///
/// ```
/// use adamant::DType;
/// assert_eq!(DType::F32.to_string(), "float32");
/// assert_eq!(DType::F64.size_bytes(), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DType {
    /// IEEE binary16.
    #[serde(rename = "float16")]
    F16,
    /// bfloat16 (the upper half of a binary32).
    #[serde(rename = "bfloat16")]
    BF16,
    /// IEEE binary32.
    #[serde(rename = "float32")]
    F32,
    /// IEEE binary64.
    #[serde(rename = "float64")]
    F64,
}

impl DType {
    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F16 | DType::BF16 => 2,
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// The MXNet / NumPy name: `float16`, `bfloat16`, `float32`, `float64`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }
}

impl DType {
    /// Whether this is a half-precision type (float16 or bfloat16).
    pub fn is_half(self) -> bool {
        matches!(self, DType::F16 | DType::BF16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// A Rust type that can hold the elements of a weight: `f32`, `f64`, [`half::f16`] or
/// [`half::bf16`].
///
/// It links the static type to its [`DType`] tag and to the variants of the
/// dtype-tagged views, so generic code can build a view without a `match`.
///
/// ```
/// use adamant::{DType, Element};
/// assert_eq!(<f64 as Element>::DTYPE, DType::F64);
/// ```
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + PartialEq + PartialOrd + fmt::Debug + Add<Output = Self> + 'static
{
    /// The run-time tag of this type.
    const DTYPE: DType;
    /// Zero: the gradient of a row a row-sparse gradient does not list.
    const ZERO: Self;
    /// The bit pattern, widened to 64 bits.
    fn to_bits64(self) -> u64;
    /// The element with the low bits of `bits` as its bit pattern.
    fn from_bits64(bits: u64) -> Self;
    /// Wraps a mutable slice in the dtype-tagged view.
    fn data_mut(data: &mut [Self]) -> DataMut<'_>;
    /// Wraps a slice in the dtype-tagged view.
    fn data_ref(data: &[Self]) -> DataRef<'_>;
    /// Wraps an owned vector in the dtype-tagged buffer.
    fn buffer(data: Vec<Self>) -> Buffer;
    /// The elements of a dtype-tagged view, if they are of this type.
    fn slice_mut<'s>(data: &'s mut DataMut<'_>) -> Option<&'s mut [Self]>;
    /// The elements of a dtype-tagged view, if they are of this type.
    fn slice<'s>(data: &DataRef<'s>) -> Option<&'s [Self]>;
    /// [`ZEROS`] zeros, the gradient of unlisted rows, without allocating them at each step.
    fn zeros() -> &'static [Self];
}

/// The length of [`Element::zeros`].
pub const ZEROS: usize = 16 * 1024;

macro_rules! element {
    ($t:ty, $variant:ident, $zero:expr, $bits:ty) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            const ZERO: Self = $zero;
            #[inline(always)]
            fn to_bits64(self) -> u64 {
                u64::from(self.to_bits())
            }
            #[inline(always)]
            fn from_bits64(bits: u64) -> Self {
                <$t>::from_bits(bits as $bits)
            }
            fn data_mut(data: &mut [Self]) -> DataMut<'_> {
                DataMut::$variant(data)
            }
            fn data_ref(data: &[Self]) -> DataRef<'_> {
                DataRef::$variant(data)
            }
            fn buffer(data: Vec<Self>) -> Buffer {
                Buffer::$variant(data)
            }
            fn slice_mut<'s>(data: &'s mut DataMut<'_>) -> Option<&'s mut [Self]> {
                match data {
                    DataMut::$variant(d) => Some(d),
                    _ => None,
                }
            }
            fn slice<'s>(data: &DataRef<'s>) -> Option<&'s [Self]> {
                match *data {
                    DataRef::$variant(d) => Some(d),
                    _ => None,
                }
            }
            fn zeros() -> &'static [Self] {
                static ZEROS_OF_TYPE: [$t; ZEROS] = [$zero; ZEROS];
                &ZEROS_OF_TYPE
            }
        }
    };
}
element!(half::f16, F16, half::f16::ZERO, u16);
element!(half::bf16, BF16, half::bf16::ZERO, u16);
element!(f32, F32, 0.0, u32);
element!(f64, F64, 0.0, u64);

/// A mutable slice whose element type is known at run time.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataMut<'a> {
    /// float16 elements.
    F16(&'a mut [half::f16]),
    /// bfloat16 elements.
    BF16(&'a mut [half::bf16]),
    /// float32 elements.
    F32(&'a mut [f32]),
    /// float64 elements.
    F64(&'a mut [f64]),
}

/// A shared slice whose element type is known at run time.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DataRef<'a> {
    /// float16 elements.
    F16(&'a [half::f16]),
    /// bfloat16 elements.
    BF16(&'a [half::bf16]),
    /// float32 elements.
    F32(&'a [f32]),
    /// float64 elements.
    F64(&'a [f64]),
}

impl DataMut<'_> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.as_ref().dtype()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A shared view of the same elements.
    pub fn as_ref(&self) -> DataRef<'_> {
        match self {
            DataMut::F16(d) => DataRef::F16(d),
            DataMut::BF16(d) => DataRef::BF16(d),
            DataMut::F32(d) => DataRef::F32(d),
            DataMut::F64(d) => DataRef::F64(d),
        }
    }
}

impl DataRef<'_> {
    /// The elements widened to float32 (exact for every dtype but float64, which is rounded).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            DataRef::F16(d) => d.iter().map(|x| x.to_f32()).collect(),
            DataRef::BF16(d) => d.iter().map(|x| x.to_f32()).collect(),
            DataRef::F32(d) => d.to_vec(),
            DataRef::F64(d) => d.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            DataRef::F16(_) => DType::F16,
            DataRef::BF16(_) => DType::BF16,
            DataRef::F32(_) => DType::F32,
            DataRef::F64(_) => DType::F64,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            DataRef::F16(d) => d.len(),
            DataRef::BF16(d) => d.len(),
            DataRef::F32(d) => d.len(),
            DataRef::F64(d) => d.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Asks for the first elements (2 KiB at most) ahead of their use.
    pub(crate) fn prefetch(&self) {
        use super::prefetch::prefetch;
        match self {
            DataRef::F16(d) => prefetch(d),
            DataRef::BF16(d) => prefetch(d),
            DataRef::F32(d) => prefetch(d),
            DataRef::F64(d) => prefetch(d),
        }
    }
}

/// Owned, dtype-tagged storage: what optimizer state is made of.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Buffer {
    /// float16 elements.
    F16(Vec<half::f16>),
    /// bfloat16 elements.
    BF16(Vec<half::bf16>),
    /// float32 elements.
    F32(Vec<f32>),
    /// float64 elements.
    F64(Vec<f64>),
}

impl Buffer {
    /// `len` zeros of `dtype`, on transparent huge pages where the system grants them and the
    /// array spans one ([`crate::advise_huge_pages`]): optimizer state is allocated here, and
    /// a lazy step's scattered rows then cost no TLB miss each.
    pub fn zeros(dtype: DType, len: usize) -> Self {
        fn advised<T>(mut v: Vec<T>) -> Vec<T> {
            crate::kernel::pages::advise_huge_pages(&mut v);
            v
        }
        match dtype {
            DType::F16 => Buffer::F16(advised(vec![half::f16::ZERO; len])),
            DType::BF16 => Buffer::BF16(advised(vec![half::bf16::ZERO; len])),
            DType::F32 => Buffer::F32(advised(vec![0.0; len])),
            DType::F64 => Buffer::F64(advised(vec![0.0; len])),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.as_ref().dtype()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A shared view of the elements.
    pub fn as_ref(&self) -> DataRef<'_> {
        match self {
            Buffer::F16(d) => DataRef::F16(d),
            Buffer::BF16(d) => DataRef::BF16(d),
            Buffer::F32(d) => DataRef::F32(d),
            Buffer::F64(d) => DataRef::F64(d),
        }
    }

    /// A mutable view of the elements.
    pub fn as_mut(&mut self) -> DataMut<'_> {
        match self {
            Buffer::F16(d) => DataMut::F16(d),
            Buffer::BF16(d) => DataMut::BF16(d),
            Buffer::F32(d) => DataMut::F32(d),
            Buffer::F64(d) => DataMut::F64(d),
        }
    }
}
