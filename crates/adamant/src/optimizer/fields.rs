//! An optimizer's own hyper-parameters as a table: each one's name and where it lives in the
//! configuration. The registry's JSON in both directions and the list of known names come from
//! the table, so an optimizer declares its hyper-parameters once.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::json_fields::{number, JsonFields};
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::options::Choice;

/// One hyper-parameter: its name and its place in a configuration of type `C`.
pub(crate) enum Field<C> {
    /// A number.
    Number(&'static str, fn(&mut C) -> &mut f64),
    /// A number or `null` (none: an option left off).
    OptionalNumber(&'static str, fn(&mut C) -> &mut Option<f64>),
    /// `true` or `false`.
    Flag(&'static str, fn(&mut C) -> &mut bool),
    /// One of a few names (its name is the option's [`Choice::KEY`]).
    Choice(fn(&mut C) -> &mut dyn Named),
}

/// A [`Choice`] seen through a field: read from JSON, written back.
pub(crate) trait Named {
    /// The option's name.
    fn key(&self) -> &'static str;
    /// Sets the value from `f`: its default when absent or `null`.
    fn read(&mut self, f: &JsonFields<'_>) -> Result<()>;
    /// The value as JSON.
    fn json(&self) -> Value;
}

impl<T: Choice> Named for T {
    fn key(&self) -> &'static str {
        T::KEY
    }
    fn read(&mut self, f: &JsonFields<'_>) -> Result<()> {
        *self = T::read(f)?;
        Ok(())
    }
    fn json(&self) -> Value {
        self.to_json()
    }
}

/// A configuration made of the base hyper-parameters and a table of its own.
pub(crate) trait Fields: Clone + Default + 'static {
    /// The registry's name, which errors name.
    const OWNER: &'static str;
    /// Its own hyper-parameters.
    const FIELDS: &'static [Field<Self>];
    /// The hyper-parameters every optimizer has.
    fn base_mut(&mut self) -> &mut OptimizerConfig;
}

impl<C> Field<C> {
    /// The name, as the registry spells it (`config` to find a choice's key).
    fn name(&self, config: &mut C) -> &'static str {
        match self {
            Field::Number(name, _) | Field::OptionalNumber(name, _) | Field::Flag(name, _) => name,
            Field::Choice(get) => get(config).key(),
        }
    }
}

/// Every name the registry accepts for `C`: the base's, then its own.
pub(crate) fn keys<C: Fields>() -> Vec<&'static str> {
    let mut config = C::default();
    OptimizerConfig::KEYS.iter().copied().chain(C::FIELDS.iter().map(|f| f.name(&mut config))).collect()
}

/// A configuration from a JSON object of the registry's names; absent keys and `null` keep the
/// defaults.
///
/// # Errors
/// An unknown key, or a value of the wrong type, naming the key.
pub(crate) fn from_json<C: Fields>(value: &Value) -> Result<C> {
    let keys = keys::<C>();
    let f = JsonFields::new(C::OWNER, value, &keys)?;
    let (mut config, mut defaults) = (C::default(), C::default());
    for key in f.keys() {
        if config.base_mut().set_json(&f, key)? {
            continue;
        }
        // JsonFields::new admitted only the base's keys and the table's.
        let Some(field) = C::FIELDS.iter().find(|field| field.name(&mut defaults) == key) else { continue };
        match field {
            Field::Number(_, get) => *get(&mut config) = f.f64(key)?.unwrap_or(*get(&mut defaults)),
            Field::OptionalNumber(_, get) => *get(&mut config) = f.f64(key)?.or(*get(&mut defaults)),
            Field::Flag(_, get) => *get(&mut config) = f.bool(key)?.unwrap_or(*get(&mut defaults)),
            Field::Choice(get) => get(&mut config).read(&f)?,
        }
    }
    Ok(config)
}

/// `config`'s own hyper-parameters added to `base`'s JSON object.
pub(crate) fn to_json<C: Fields>(config: &C, base: &OptimizerConfig) -> Value {
    let mut map: Map<String, Value> = base.to_json();
    let mut config = config.clone();
    for field in C::FIELDS {
        let name = field.name(&mut config);
        let value = match field {
            Field::Number(_, get) => number(*get(&mut config)),
            Field::OptionalNumber(_, get) => get(&mut config).map_or(Value::Null, number),
            Field::Flag(_, get) => Value::from(*get(&mut config)),
            Field::Choice(get) => get(&mut config).json(),
        };
        map.insert(name.to_string(), value);
    }
    Value::Object(map)
}

/// The registry's methods of a configuration `$config` (named `$name` in docs) whose fields
/// are a [`Fields`] table: `keys` and `from_json`, and `build` from `$engine` (the rule the
/// engine runs, made from the configuration).
macro_rules! registry_methods {
    ($config:ty, $name:literal, |$c:ident| $engine:expr) => {
        impl $config {
            #[doc = concat!("Every hyper-parameter name the registry accepts for ", $name, ".")]
            pub fn keys() -> Vec<&'static str> {
                $crate::optimizer::fields::keys::<Self>()
            }

            /// Validates the configuration and builds the optimizer.
            ///
            /// # Errors
            /// [`Error::InvalidHyperParameter`](crate::Error::InvalidHyperParameter) for the
            /// first value at fault.
            pub fn build(&self) -> $crate::error::Result<Box<dyn $crate::optimizer::interface::Optimizer>> {
                let $c = self.clone();
                Ok(Box::new($crate::optimizer::engine::Engine::new($engine)?))
            }

            /// Reads a configuration from a JSON object of MXNet's argument names; absent keys
            /// and `null` keep the defaults.
            ///
            /// # Errors
            /// An unknown key, or a value of the wrong type, naming the key.
            pub fn from_json(value: &serde_json::Value) -> $crate::error::Result<Self> {
                $crate::optimizer::fields::from_json(value)
            }
        }
    };
}
pub(crate) use registry_methods;
