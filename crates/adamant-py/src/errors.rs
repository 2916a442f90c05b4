//! Errors as Python exceptions: every error of the library is an `adamant.AdamantError` (a
//! `ValueError`) whose message names the parameter and the value at fault.

use pyo3::PyErr;

pyo3::create_exception!(
    _adamant,
    AdamantError,
    pyo3::exceptions::PyValueError,
    "A value adamant refuses: a hyper-parameter, a tensor, a state or a state file. The message \
     names the parameter and the value; nothing has changed."
);

/// The library's error as the Python exception.
pub fn to_py(e: adamant::Error) -> PyErr {
    AdamantError::new_err(e.to_string())
}

/// An `AdamantError` with `message`.
pub fn refused(message: impl Into<String>) -> PyErr {
    AdamantError::new_err(message.into())
}
