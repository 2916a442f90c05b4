//! Element types: the run-time tag [`DType`] and the compile-time trait [`Element`].

use std::fmt;

use crate::tensor::{Buffer, DataMut, DataRef};

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
pub trait Element: sealed::Sealed + Copy + Send + Sync + PartialEq + fmt::Debug + 'static {
    /// The run-time tag of this type.
    const DTYPE: DType;
    /// Wraps a mutable slice in the dtype-tagged view.
    fn data_mut(data: &mut [Self]) -> DataMut<'_>;
    /// Wraps a slice in the dtype-tagged view.
    fn data_ref(data: &[Self]) -> DataRef<'_>;
    /// Wraps an owned vector in the dtype-tagged buffer.
    fn buffer(data: Vec<Self>) -> Buffer;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn data_mut(data: &mut [Self]) -> DataMut<'_> {
                DataMut::$variant(data)
            }
            fn data_ref(data: &[Self]) -> DataRef<'_> {
                DataRef::$variant(data)
            }
            fn buffer(data: Vec<Self>) -> Buffer {
                Buffer::$variant(data)
            }
        }
    };
}
element!(half::f16, F16);
element!(half::bf16, BF16);
element!(f32, F32);
element!(f64, F64);
