//! The one error type of the library.

use crate::kernel::element::DType;

/// Everything that can go wrong in adamant.
///
/// Each variant names what is at fault (the parameter index, the hyper-parameter, the value),
/// so the message alone tells the user what to fix. Every operation that returns an error has
/// changed nothing: weights, states, counters and scheduler state are as they were.
///
/// ```
/// use adamant::{AdamConfig, Error};
/// let err = AdamConfig { beta1: 1.0, ..AdamConfig::default() }.validate().unwrap_err();
/// assert!(matches!(err, Error::InvalidHyperParameter { name: "beta1", .. }));
/// assert_eq!(err.to_string(), "hyper-parameter beta1 = 1.0: must be in [0, 1)");
///
/// // Judged as the kernel reads it (float32), where 0.99999999 is exactly 1.
/// let err = AdamConfig { beta2: 0.99999999, ..AdamConfig::default() }.validate().unwrap_err();
/// assert!(err.to_string().contains("becomes 1 in float32"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hyper-parameter of the optimizer or of a scheduler is out of its range.
    #[error("hyper-parameter {name} = {value}: {reason}")]
    InvalidHyperParameter {
        /// The hyper-parameter's name, as the registry spells it.
        name: &'static str,
        /// The rejected value, printed.
        value: String,
        /// What the value must be, or what it would become.
        reason: String,
    },
    /// A per-parameter learning-rate or weight-decay multiplier is out of its range.
    #[error("{kind} for {key} = {value:?}: must be finite and >= 0")]
    InvalidMultiplier {
        /// `lr_mult` or `wd_mult`.
        kind: &'static str,
        /// `index 3` or `name "fc1_weight"`.
        key: String,
        /// The rejected value.
        value: f64,
    },
    /// The registry knows no optimizer of this name.
    #[error("unknown optimizer {name:?}; known optimizers: {known}")]
    UnknownOptimizer {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A configuration names a hyper-parameter the optimizer (or scheduler) does not have.
    #[error("unknown hyper-parameter {name:?} for {owner}{hint}; known: {known}")]
    UnknownHyperParameter {
        /// The name given.
        name: String,
        /// `adam` or `factor scheduler`, say.
        owner: String,
        /// `; did you mean "learning_rate"? (PyTorch)` where the name is another library's, or
        /// empty.
        hint: String,
        /// The names it accepts, comma-separated.
        known: String,
    },
    /// A configuration names several hyper-parameters the optimizer (or scheduler) does not have.
    #[error("unknown hyper-parameters {names:?} for {owner}{hint}; known: {known}")]
    UnknownHyperParameters {
        /// The names given.
        names: Vec<String>,
        /// `adam` or `factor scheduler`, say.
        owner: String,
        /// `; for "lr": did you mean "learning_rate"? (PyTorch); ...` for the names that are
        /// another library's, or empty.
        hint: String,
        /// The names it accepts, comma-separated.
        known: String,
    },
    /// A configuration gives a hyper-parameter a value of the wrong type.
    #[error("hyper-parameter {name:?}: expected {expected}, got {value}")]
    WrongType {
        /// The hyper-parameter.
        name: String,
        /// What it takes.
        expected: &'static str,
        /// The JSON value given.
        value: String,
    },
    /// A scheduler was given but a hyper-parameter it needs was not.
    #[error("{owner} needs {name:?}")]
    MissingHyperParameter {
        /// The missing hyper-parameter.
        name: &'static str,
        /// The scheduler that needs it.
        owner: &'static str,
    },
    /// `set_learning_rate` was called on an optimizer driven by a scheduler.
    #[error(
        "the learning rate is set by the scheduler; change the schedule instead (set_lr_scheduler \
         replaces it, or removes it and keeps the current rate)"
    )]
    LearningRateOwnedByScheduler,
    /// A tensor's data does not have as many elements as its shape says.
    #[error("parameter {index}: {what} has {len} elements but its shape {shape:?} needs {expected}")]
    ShapeLength {
        /// The parameter index.
        index: usize,
        /// `weight` or `gradient`.
        what: &'static str,
        /// The data's length.
        len: usize,
        /// The declared shape.
        shape: Vec<usize>,
        /// The product of the shape.
        expected: usize,
    },
    /// A shape whose element count (the product of its dimensions) does not fit in a `usize`.
    #[error(
        "parameter {index}: shape {shape:?} is too large: the product of its dimensions does \
         not fit in {bits} bits"
    )]
    ShapeOverflow {
        /// The parameter index.
        index: usize,
        /// The shape given.
        shape: Vec<usize>,
        /// The width of a `usize` on this machine.
        bits: u32,
    },
    /// A gradient's shape differs from its weight's.
    #[error("parameter {index}: gradient shape {grad:?} differs from weight shape {weight:?}")]
    GradShape {
        /// The parameter index.
        index: usize,
        /// The weight's shape.
        weight: Vec<usize>,
        /// The gradient's shape.
        grad: Vec<usize>,
    },
    /// A gradient's dtype differs from its weight's.
    #[error("parameter {index}: gradient dtype {grad} differs from weight dtype {weight}")]
    GradDType {
        /// The parameter index.
        index: usize,
        /// The weight's dtype.
        weight: DType,
        /// The gradient's dtype.
        grad: DType,
    },
    /// A weight's shape or dtype changed since its optimizer state was created.
    #[error(
        "parameter {index}: weight is {weight_dtype} {weight:?} but its optimizer state was \
         created for {state_dtype} {state:?}"
    )]
    StateMismatch {
        /// The parameter index.
        index: usize,
        /// The weight's shape now.
        weight: Vec<usize>,
        /// The weight's dtype now.
        weight_dtype: DType,
        /// The shape the state was created for.
        state: Vec<usize>,
        /// The dtype the state was created for.
        state_dtype: DType,
    },
    /// A parameter's state does not have the arrays its optimizer keeps.
    #[error("parameter {index}: its state has {given} arrays; this optimizer keeps {expected:?}")]
    StateArrays {
        /// The parameter index.
        index: usize,
        /// The arrays the optimizer keeps for this weight, in order.
        expected: Vec<&'static str>,
        /// How many arrays the state has.
        given: usize,
    },
    /// One array of a parameter's state has the wrong dtype or length.
    #[error(
        "parameter {index}: state array {name} is {} x {}, expected {} x {}",
        given.0, given.1, expected.0, expected.1
    )]
    StateArray {
        /// The parameter index.
        index: usize,
        /// The array's name.
        name: &'static str,
        /// The dtype and length it must have.
        expected: (DType, usize),
        /// The dtype and length it has.
        given: (DType, usize),
    },
    /// A named state array where the layout keeps another one.
    #[error("parameter {index}: state array {position} is {given:?}; this optimizer keeps {expected} there")]
    StateArrayName {
        /// The parameter index.
        index: usize,
        /// The array's position in the state.
        position: usize,
        /// The name the layout has there.
        expected: &'static str,
        /// The name it was given.
        given: String,
    },
    /// More state arrays than any optimizer keeps.
    #[error("{given} state arrays; no optimizer keeps more than {max}")]
    TooManyStateArrays {
        /// How many were given.
        given: usize,
        /// The most there can be.
        max: usize,
    },
    /// A lazy row-sparse update of an option that update does not have.
    #[error("parameter {index}: the lazy row-sparse update does not support {what}")]
    SparseUnsupported {
        /// The parameter index.
        index: usize,
        /// What it does not support, and why.
        what: &'static str,
    },
    /// The optimizer takes dense gradients only.
    #[error("parameter {index}: {optimizer} takes dense gradients only ({why}); densify the gradient")]
    RowSparseUnsupported {
        /// The parameter index.
        index: usize,
        /// The optimizer's registry name.
        optimizer: &'static str,
        /// Why.
        why: &'static str,
    },
    /// The optimizer cannot step weights of this dtype as configured.
    #[error("parameter {index}: {dtype} {what}")]
    DTypeUnsupported {
        /// The parameter index.
        index: usize,
        /// The weight's dtype.
        dtype: DType,
        /// What it needs, and why.
        what: &'static str,
    },
    /// A row-sparse gradient lists a row the weight does not have.
    #[error("parameter {index}: row index {row} is out of range for a weight of {rows} rows")]
    RowIndexOutOfRange {
        /// The parameter index.
        index: usize,
        /// The offending row index.
        row: i64,
        /// The weight's number of rows.
        rows: usize,
    },
    /// A row-sparse gradient's values block does not hold one row per listed index.
    #[error(
        "parameter {index}: row-sparse gradient lists {listed} rows of {row_len} elements but \
         holds {len} values"
    )]
    RowSparseValues {
        /// The parameter index.
        index: usize,
        /// Row indices listed.
        listed: usize,
        /// Elements per row.
        row_len: usize,
        /// Values given.
        len: usize,
    },
    /// A row-sparse gradient for a weight without rows (a scalar).
    #[error("parameter {index}: a row-sparse gradient needs a weight with at least one dimension")]
    RowSparseScalar {
        /// The parameter index.
        index: usize,
    },
    /// A weight in row-sparse storage that does not hold every row, in order.
    #[error(
        "parameter {index}: a row-sparse weight must hold every row 0..{rows} in order (as in \
         MXNet); it holds {present} rows{}",
        out_of_place.map_or(String::new(), |(at, row)| format!(", and row {row} at position {at}"))
    )]
    MissingWeightRows {
        /// The parameter index.
        index: usize,
        /// The rows the shape has.
        rows: usize,
        /// The rows the weight holds.
        present: usize,
        /// The first position that holds another row than its own, and the row it holds.
        out_of_place: Option<(usize, i64)>,
    },
    /// The same parameter index appears twice in one batch.
    #[error("parameter {index} appears more than once in one batch")]
    DuplicateIndex {
        /// The repeated index.
        index: usize,
    },
    /// A state file cannot be read: it is damaged, truncated, of another format or version,
    /// or describes something impossible. Nothing was loaded.
    #[error("state file: {reason}")]
    StateFile {
        /// What is wrong, with the array or field at fault.
        reason: String,
    },
    /// A state file does not fit the weights it is loaded for; every mismatch is listed.
    #[error("state file does not fit the weights: {}", mismatches.join("; "))]
    StateFileMismatch {
        /// One line per parameter at fault.
        mismatches: Vec<String>,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// The batch and the list of states have different lengths.
    #[error("{params} parameters but {states} states")]
    StateCount {
        /// Parameters in the batch.
        params: usize,
        /// States handed in.
        states: usize,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
