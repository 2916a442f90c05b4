//! Reading hyper-parameters from a JSON object, key by key, so that every error names its key.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A JSON object whose keys have been checked against a list of known names.
pub(crate) struct JsonFields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> JsonFields<'a> {
    /// Checks that `value` is an object whose keys are all in `known`.
    pub fn new(owner: &str, value: &'a Value, known: &[&str]) -> Result<Self> {
        let map = value.as_object().ok_or_else(|| Error::WrongType {
            name: owner.to_string(),
            expected: "a JSON object",
            value: value.to_string(),
        })?;
        // Every unknown name at once, each with its hint, so that they are fixed in one go.
        let unknown: Vec<&String> = map.keys().filter(|k| !known.contains(&k.as_str())).collect();
        let (owner, all_known) = (owner.to_string(), known.join(", "));
        match unknown.as_slice() {
            [] => {}
            [one] => {
                let hint = crate::aliases::hint(one, known);
                return Err(Error::UnknownHyperParameter {
                    name: one.to_string(),
                    owner,
                    hint,
                    known: all_known,
                });
            }
            all => {
                let hints: Vec<String> = all
                    .iter()
                    .filter_map(|n| {
                        let hint = crate::aliases::hint(n, known);
                        (!hint.is_empty()).then(|| format!("for {n:?}:{}", hint.trim_start_matches(';')))
                    })
                    .collect();
                let hint = if hints.is_empty() { String::new() } else { format!("; {}", hints.join("; ")) };
                let names = all.iter().map(|n| n.to_string()).collect();
                return Err(Error::UnknownHyperParameters { names, owner, hint, known: all_known });
            }
        }
        Ok(JsonFields { map })
    }

    /// The keys present, in the object's order.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.map.keys().map(String::as_str)
    }

    /// The value of `name`, or `None` when it is absent or `null`.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A number.
    pub fn f64(&self, name: &str) -> Result<Option<f64>> {
        self.get(name).map(|v| as_f64(name, v)).transpose()
    }

    /// A non-negative integer.
    pub fn u64(&self, name: &str) -> Result<Option<u64>> {
        self.get(name).map(|v| as_u64(name, v)).transpose()
    }

    /// `true` or `false`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        self.get(name).map(|v| v.as_bool().ok_or_else(|| wrong_type(name, "true or false", v))).transpose()
    }

    /// A string.
    pub fn str(&self, name: &str) -> Result<Option<&'a str>> {
        self.get(name).map(|v| v.as_str().ok_or_else(|| wrong_type(name, "a string", v))).transpose()
    }
}

impl JsonFields<'_> {
    /// One of a fixed set of names, as its value; `None` when absent. Anything else is an
    /// error that names `name` and lists the names.
    pub fn choice<T: Copy>(&self, name: &'static str, options: &[(&str, T)]) -> Result<Option<T>> {
        let Some(given) = self.str(name)? else { return Ok(None) };
        match options.iter().find(|(spelling, _)| *spelling == given) {
            Some(&(_, value)) => Ok(Some(value)),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                let reason = format!("must be {}", names.join(" or "));
                Err(Error::InvalidHyperParameter { name, value: given.to_string(), reason })
            }
        }
    }
}

/// The error for `name` holding `value` where `expected` was wanted.
pub(crate) fn wrong_type(name: &str, expected: &'static str, value: &Value) -> Error {
    Error::WrongType { name: name.to_string(), expected, value: value.to_string() }
}

/// A JSON number as f64; also `"NaN"`, `"Infinity"` and `"-Infinity"`, which [`number`] writes
/// for the values JSON has no number for.
pub(crate) fn as_f64(name: &str, value: &Value) -> Result<f64> {
    match value.as_str() {
        Some("NaN") => Ok(f64::NAN),
        Some("Infinity") => Ok(f64::INFINITY),
        Some("-Infinity") => Ok(f64::NEG_INFINITY),
        _ => value.as_f64().ok_or_else(|| wrong_type(name, "a number", value)),
    }
}

/// `x` as JSON: a number, or for NaN and the infinities (which JSON numbers cannot hold, and
/// `serde_json` would write as `null`) the strings [`as_f64`] reads back.
pub(crate) fn number(x: f64) -> Value {
    match x {
        x if x.is_nan() => Value::from("NaN"),
        f64::INFINITY => Value::from("Infinity"),
        f64::NEG_INFINITY => Value::from("-Infinity"),
        x => Value::from(x),
    }
}

/// A JSON non-negative integer as u64.
pub(crate) fn as_u64(name: &str, value: &Value) -> Result<u64> {
    value.as_u64().ok_or_else(|| wrong_type(name, "a non-negative integer", value))
}

/// A decimal key of a JSON object (`"3"`) as a parameter index.
pub(crate) fn index_key(name: &str, key: &str) -> Result<usize> {
    key.parse().map_err(|_| Error::WrongType {
        name: name.to_string(),
        expected: "parameter indices as keys (\"0\", \"1\", ...)",
        value: format!("{key:?}"),
    })
}
