//! Optimizer state as named arrays: owned ([`State`], what an [`Updater`](crate::Updater) keeps)
//! or borrowed ([`StateMut`], state that lives elsewhere, such as in PyTorch tensors).

use crate::error::{Error, Result};
use crate::kernel::element::{Buffer, DType, DataMut, DataRef};
use crate::param::Param;
use crate::tensor::{same_shape, Shape};

/// The name of a float32 master copy of a half-precision weight (MXNet's name).
pub const MASTER: &str = "weight32";

/// The most arrays a state has (AMSGrad's three moments and a master copy).
pub const MAX_ARRAYS: usize = 4;

/// What a rule keeps for a weight: its arrays' names, in the rule's order, their dtype, and
/// whether a float32 master copy ([`MASTER`]) follows them.
///
/// ```
/// let adam = adamant::create("adam", &serde_json::json!({"multi_precision": true})).unwrap();
/// let layout = adam.layout(adamant::DType::F16);
/// assert_eq!(layout.names().collect::<Vec<_>>(), ["mean", "var", "weight32"]);
/// assert_eq!(layout.dtype, adamant::DType::F32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The rule's arrays (`mean`, `var` for MXNet's Adam; `exp_avg`, `exp_avg_sq` for PyTorch's).
    pub arrays: &'static [&'static str],
    /// Their dtype: the weight's, or float32 with a master copy.
    pub dtype: DType,
    /// Whether a float32 master copy of the weight follows the rule's arrays.
    pub master: bool,
}

impl Layout {
    /// The layout of `arrays` for a weight of `weight`'s dtype: with `multi_precision`, a
    /// half-precision weight gets float32 arrays and a master copy (other dtypes ignore it).
    pub fn new(arrays: &'static [&'static str], weight: DType, multi_precision: bool) -> Layout {
        let master = multi_precision && weight.is_half();
        Layout { arrays, dtype: if master { DType::F32 } else { weight }, master }
    }

    /// Every array's name, the master copy last.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.arrays.iter().copied().chain(self.master.then_some(MASTER))
    }

    /// The number of arrays, the master copy included.
    pub fn len(&self) -> usize {
        self.arrays.len() + usize::from(self.master)
    }

    /// Whether there are no arrays.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every array's name and dtype, in order: the rule's arrays in the layout's dtype, then the
    /// float32 master copy.
    fn expected(&self) -> impl Iterator<Item = (&'static str, DType)> + '_ {
        let master = self.master.then_some((MASTER, DType::F32));
        self.arrays.iter().map(|&name| (name, self.dtype)).chain(master)
    }

    /// Whether `state` has this layout's arrays, each of `len` elements: what
    /// [`Layout::check`] accepts, decided without building an error (a batch's common case).
    #[inline]
    pub(crate) fn fits(&self, len: usize, state: &StateMut<'_>) -> bool {
        let mut expected = self.expected();
        state.arrays.iter().zip(&state.names).all(|(array, given)| match (array, expected.next()) {
            (None, None) => true,
            (Some(array), Some((name, dtype))) => {
                array.dtype() == dtype && array.len() == len && given.is_none_or(|given| given == name)
            }
            _ => false,
        })
    }

    /// Checks that `state` has this layout's arrays, each of `len` elements, for parameter
    /// `index`.
    pub(crate) fn check(&self, index: usize, len: usize, state: &StateMut<'_>) -> Result<()> {
        if state.len() != self.len() {
            return Err(Error::StateArrays { index, expected: self.names().collect(), given: state.len() });
        }
        for (position, ((name, dtype), array)) in self.expected().zip(state.arrays()).enumerate() {
            if let Some(given) = state.names[position].filter(|&given| given != name) {
                let given = given.to_string();
                return Err(Error::StateArrayName { index, position, expected: name, given });
            }
            if array.dtype() != dtype || array.len() != len {
                return Err(Error::StateArray {
                    index,
                    name,
                    expected: (dtype, len),
                    given: (array.dtype(), array.len()),
                });
            }
        }
        Ok(())
    }
}

/// One parameter's optimizer state, borrowed: the arrays of its [`Layout`], in order, each as
/// long as the weight. The memory may belong to anyone: an [`Updater`](crate::Updater), a
/// training framework's tensors. Named arrays ([`StateMut::named`]) are checked against the
/// layout's names at every step; unnamed ones ([`StateMut::new`]) only by position, dtype and
/// length, so two arrays of one dtype given in the wrong order go unnoticed.
///
/// ```
/// use adamant::{DataMut, Param, StateMut};
/// let mut adam = adamant::create("adam", &serde_json::json!({"learning_rate": 0.1})).unwrap();
/// let (mut w, g) = ([1.0f32, -1.0], [0.5f32, -0.5]);
/// let (mut mean, mut var) = ([0.0f32; 2], [0.0f32; 2]);
/// let mut states = [StateMut::named([("mean", DataMut::F32(&mut mean)), ("var", DataMut::F32(&mut var))])?];
/// adam.update(&mut [Param::dense(0, &[2], &mut w, &g)], &mut states)?;
/// assert!(w[0] < 1.0 && mean[0] > 0.0);
///
/// // Swapped, the names give it away.
/// let mut swapped = [StateMut::named([("var", DataMut::F32(&mut var)), ("mean", DataMut::F32(&mut mean))])?];
/// let err = adam.update(&mut [Param::dense(0, &[2], &mut w, &g)], &mut swapped).unwrap_err();
/// assert_eq!(err.to_string(), "parameter 0: state array 0 is \"var\"; this optimizer keeps mean there");
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct StateMut<'a> {
    arrays: [Option<DataMut<'a>>; MAX_ARRAYS],
    /// The arrays' names, where given.
    names: [Option<&'a str>; MAX_ARRAYS],
    /// The shape and dtype of the weight the arrays were made for, when known (an owned
    /// [`State`] knows them), to refuse a weight whose shape or dtype changed since.
    made_for: Option<(&'a [usize], DType)>,
}

impl<'a> StateMut<'a> {
    /// A state of these named arrays, in their layout's order (`Optimizer::layout(dtype).names()`);
    /// each step checks the names.
    ///
    /// # Errors
    /// [`Error::TooManyStateArrays`] when there are more than [`MAX_ARRAYS`].
    pub fn named(arrays: impl IntoIterator<Item = (&'a str, DataMut<'a>)>) -> Result<Self> {
        let (mut names, mut given) = ([None; MAX_ARRAYS], 0usize);
        let state = StateMut::new(arrays.into_iter().map(|(name, array)| {
            if let Some(slot) = names.get_mut(given) {
                *slot = Some(name);
            }
            given = given.saturating_add(1);
            array
        }))?;
        Ok(StateMut { names, ..state })
    }

    /// A state of these arrays, in their layout's order (`Optimizer::layout(dtype).names()`),
    /// checked by position, dtype and length only; prefer [`StateMut::named`].
    ///
    /// # Errors
    /// [`Error::TooManyStateArrays`] when there are more than [`MAX_ARRAYS`].
    pub fn new(arrays: impl IntoIterator<Item = DataMut<'a>>) -> Result<Self> {
        let mut state = StateMut::default();
        let mut given = 0;
        for array in arrays {
            given += 1;
            if let Some(slot) = state.arrays.get_mut(given - 1) {
                *slot = Some(array);
            }
        }
        if given > MAX_ARRAYS {
            return Err(Error::TooManyStateArrays { given, max: MAX_ARRAYS });
        }
        Ok(state)
    }

    /// The number of arrays.
    pub fn len(&self) -> usize {
        self.arrays.iter().take_while(|a| a.is_some()).count()
    }

    /// Whether there are no arrays.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The arrays, in order.
    pub fn arrays(&self) -> impl Iterator<Item = &DataMut<'a>> {
        self.arrays.iter().map_while(Option::as_ref)
    }

    /// The arrays, in order, to change in place.
    pub fn arrays_mut(&mut self) -> impl Iterator<Item = &mut DataMut<'a>> {
        self.arrays.iter_mut().map_while(Option::as_mut)
    }

    /// Whether this state was made for `param`'s weight, where known: what
    /// [`StateMut::check_made_for`] accepts, without building an error.
    #[inline]
    pub(crate) fn is_made_for(&self, param: &Param<'_>) -> bool {
        self.made_for.is_none_or(|(shape, dtype)| belongs(shape, dtype, param))
    }

    /// Checks that this state was made for `param`'s weight (its shape and dtype), where known.
    pub(crate) fn check_made_for(&self, param: &Param<'_>) -> Result<()> {
        match self.made_for {
            Some((shape, dtype)) => check_made_for(shape, dtype, param),
            None => Ok(()),
        }
    }
}

/// Whether a state made for a weight of `shape` and `dtype` belongs to `param`'s weight.
fn belongs(shape: &[usize], dtype: DType, param: &Param<'_>) -> bool {
    dtype == param.weight.data.dtype() && same_shape(shape, param.weight.shape)
}

/// Checks that a state made for a weight of `shape` and `dtype` belongs to `param`'s weight.
fn check_made_for(shape: &[usize], dtype: DType, param: &Param<'_>) -> Result<()> {
    if belongs(shape, dtype, param) {
        return Ok(());
    }
    let weight = &param.weight;
    Err(Error::StateMismatch {
        index: param.index,
        weight: weight.shape.to_vec(),
        weight_dtype: weight.data.dtype(),
        state: shape.to_vec(),
        state_dtype: dtype,
    })
}

/// One parameter's optimizer state, owned: named arrays (see [`Layout`]) and the shape and dtype
/// of the weight they were made for. Plain data, as a checkpoint writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    shape: Shape,
    dtype: DType,
    arrays: Vec<(&'static str, Buffer)>,
}

impl State {
    /// A fresh state of `layout` for a weight: zeros, and the master copy equal to the weight.
    pub(crate) fn new(layout: &Layout, shape: &[usize], weight: DataRef<'_>) -> State {
        let len = weight.len();
        let arrays = layout
            .names()
            .map(|name| {
                let buffer = if name == MASTER {
                    Buffer::F32(weight.to_f32())
                } else {
                    Buffer::zeros(layout.dtype, len)
                };
                (name, buffer)
            })
            .collect();
        State { shape: Shape::new(shape), dtype: weight.dtype(), arrays }
    }

    /// A state from named arrays (a checkpoint's), checked against `layout` and the weight's
    /// `shape` and `dtype`. Arrays come in any order, each once.
    pub(crate) fn from_arrays(
        layout: &Layout,
        shape: &[usize],
        dtype: DType,
        mut arrays: Vec<(String, Buffer)>,
    ) -> std::result::Result<State, String> {
        let len = crate::tensor::shape_len(shape).ok_or_else(|| format!("shape {shape:?} is too large"))?;
        let mut ordered = Vec::with_capacity(layout.len());
        for name in layout.names() {
            let position =
                arrays.iter().position(|(n, _)| n == name).ok_or_else(|| format!("no array {name}"))?;
            let (_, buffer) = arrays.swap_remove(position);
            let expected = if name == MASTER { DType::F32 } else { layout.dtype };
            if buffer.dtype() != expected || buffer.len() != len {
                return Err(format!(
                    "{name} is {} x {}, expected {expected} x {len}",
                    buffer.dtype(),
                    buffer.len()
                ));
            }
            ordered.push((name, buffer));
        }
        if let Some((name, _)) = arrays.first() {
            let kept = layout.names().any(|n| n == name);
            return Err(if kept {
                format!("array {name} twice")
            } else {
                format!("an array {name} that this optimizer does not keep")
            });
        }
        Ok(State { shape: Shape::new(shape), dtype, arrays: ordered })
    }

    /// The shape of the weight this state belongs to.
    pub fn shape(&self) -> &[usize] {
        self.shape.as_slice()
    }

    /// The dtype of the weight this state belongs to.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The array called `name`, if this state has one.
    pub fn array(&self, name: &str) -> Option<DataRef<'_>> {
        self.arrays.iter().find(|(n, _)| *n == name).map(|(_, b)| b.as_ref())
    }

    /// Every array with its name, in the layout's order.
    pub fn arrays(&self) -> impl Iterator<Item = (&'static str, DataRef<'_>)> {
        self.arrays.iter().map(|(n, b)| (*n, b.as_ref()))
    }

    /// Checks that this state was made for `param`'s weight (its shape and dtype).
    pub(crate) fn check_made_for(&self, param: &Param<'_>) -> Result<()> {
        check_made_for(self.shape.as_slice(), self.dtype, param)
    }

    /// The arrays borrowed, to step.
    pub(crate) fn as_mut(&mut self) -> StateMut<'_> {
        let mut state =
            StateMut { made_for: Some((self.shape.as_slice(), self.dtype)), ..StateMut::default() };
        for ((slot, name), (array_name, buffer)) in
            state.arrays.iter_mut().zip(&mut state.names).zip(&mut self.arrays)
        {
            (*slot, *name) = (Some(buffer.as_mut()), Some(*array_name));
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DataMut, Grad, TensorMut, TensorRef};

    /// The full checks of a dense parameter with its state, and the fast ones a batch runs first.
    fn full_and_fast(param: &Param<'_>, state: &StateMut<'_>, layout: &Layout) -> (bool, bool) {
        let len = param.weight.data.len();
        let full = param
            .check()
            .and_then(|()| state.check_made_for(param))
            .and_then(|()| layout.check(0, len, state));
        let fast = param.is_plain_dense() && state.is_made_for(param) && layout.fits(len, state);
        (full.is_ok(), fast)
    }

    fn arrays<'a>(x: &'a mut [f32], y: &'a mut [f32]) -> StateMut<'a> {
        StateMut::new([DataMut::F32(x), DataMut::F32(y)]).unwrap()
    }

    fn named<'a>(names: [&'static str; 2], x: &'a mut [f32], y: &'a mut [f32]) -> StateMut<'a> {
        StateMut::named([(names[0], DataMut::F32(x)), (names[1], DataMut::F32(y))]).unwrap()
    }

    fn dense<'a>(
        w: &'a mut [f32],
        shape: &'a [usize],
        grad_shape: &'a [usize],
        grad: &'a [f32],
    ) -> Param<'a> {
        Param::new(0, TensorMut::new(shape, w), Grad::Dense(TensorRef::new(grad_shape, grad)))
    }

    #[test]
    fn the_fast_checks_accept_a_dense_parameter_exactly_when_the_full_checks_do() {
        let layout = Layout::new(&["mean", "var"], DType::F32, false);
        let (square, row, overflow) = ([2usize, 2], [1usize, 4], [usize::MAX, 2]);
        let mut owned = State::new(&layout, &square, DataRef::F32(&[0.0; 4]));
        let mut w = [1.0f32; 4];
        let (g, g64, g3) = ([0.5f32; 4], [0.5f64; 4], [0.5f32; 3]);
        let (mut a, mut b, mut c, mut short, mut wide) =
            ([0f32; 4], [0f32; 4], [0f32; 4], [0f32; 3], [0f64; 4]);
        let mut cases = 0;
        // Whether the full checks accept, and whether the fast ones do: never without the full.
        let mut expect = |param: Param<'_>, state: StateMut<'_>, full: bool, fast: bool| {
            assert_eq!(full_and_fast(&param, &state, &layout), (full, fast), "case {cases}");
            cases += 1;
        };
        expect(Param::dense(0, &square, &mut w, &g), arrays(&mut a, &mut b), true, true);
        // The weight or the gradient not as long as the shape, the gradient's dtype or shape; a
        // weight in row-sparse storage and a row-sparse gradient, which only the full checks take.
        expect(Param::dense(0, &overflow, &mut w, &g), arrays(&mut a, &mut b), false, false);
        expect(Param::dense(0, &[3], &mut w, &g), arrays(&mut a, &mut b), false, false);
        expect(dense(&mut w, &square, &square, &g3), arrays(&mut a, &mut b), false, false);
        let f64_grad = Grad::Dense(TensorRef::new(&square, &g64));
        expect(
            Param::new(0, TensorMut::new(&square, &mut w), f64_grad),
            arrays(&mut a, &mut b),
            false,
            false,
        );
        expect(dense(&mut w, &square, &row, &g), arrays(&mut a, &mut b), false, false);
        expect(
            Param::dense(0, &square, &mut w, &g).with_weight_rows(&[0, 1]),
            arrays(&mut a, &mut b),
            true,
            false,
        );
        expect(Param::row_sparse(0, &square, &mut w, &[1], &g[..2]), arrays(&mut a, &mut b), true, false);
        // The state: too few or too many arrays, one short, one of another dtype, misnamed.
        expect(
            Param::dense(0, &square, &mut w, &g),
            StateMut::new([DataMut::F32(&mut a)]).unwrap(),
            false,
            false,
        );
        let three =
            StateMut::new([DataMut::F32(&mut a), DataMut::F32(&mut b), DataMut::F32(&mut c)]).unwrap();
        expect(Param::dense(0, &square, &mut w, &g), three, false, false);
        expect(Param::dense(0, &square, &mut w, &g), arrays(&mut a, &mut short), false, false);
        let f64_var = StateMut::new([DataMut::F32(&mut a), DataMut::F64(&mut wide)]).unwrap();
        expect(Param::dense(0, &square, &mut w, &g), f64_var, false, false);
        expect(Param::dense(0, &square, &mut w, &g), named(["mean", "var"], &mut a, &mut b), true, true);
        expect(Param::dense(0, &square, &mut w, &g), named(["var", "mean"], &mut a, &mut b), false, false);
        // An owned state made for this weight, and for a weight of another shape.
        expect(Param::dense(0, &square, &mut w, &g), owned.as_mut(), true, true);
        expect(Param::dense(0, &row, &mut w, &g), owned.as_mut(), false, false);
        assert_eq!(cases, 16);
    }
}
