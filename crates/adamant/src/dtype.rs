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
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// The MXNet / NumPy name: `float32`, `float64`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
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
}

/// A Rust type that can hold the elements of a weight: `f32` or `f64`.
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
element!(f32, F32);
element!(f64, F64);
