//! Reading a state file, trusting nothing in it: every field and array is checked (format,
//! version, checksums, dtypes, shapes, lengths) before an `Updater` is built, and any fault is
//! an error, never a panic.

#![deny(clippy::arithmetic_side_effects)]

use std::io::Read;
use std::path::Path;

use half::{bf16, f16};
use safetensors::SafeTensors;

use super::metadata::{Metadata, CRC_KEY, FORMAT, KEY, VERSION};
use super::save::safetensors_dtype;
use crate::error::{Error, Result};
use crate::kernel::element::{Buffer, DType, Element};
use crate::optimizer::state::{State, MASTER};
use crate::param::Param;
use crate::updater::Updater;

/// What a weight is, for checking a state file against the weights it is resumed with.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec<'a> {
    /// The parameter index.
    pub index: usize,
    /// The weight's shape.
    pub shape: &'a [usize],
    /// The weight's dtype.
    pub dtype: DType,
}

impl<'a> ParamSpec<'a> {
    /// The spec of a batch entry.
    pub fn of(param: &'a Param<'_>) -> Self {
        ParamSpec { index: param.index, shape: param.weight.shape, dtype: param.weight.data.dtype() }
    }

    /// The spec of weight `index` of `shape`, stored as `T`: no weight is borrowed.
    ///
    /// ```
    /// let spec = adamant::ParamSpec::weight::<f32>(0, &[256, 64]);
    /// assert_eq!(spec.dtype, adamant::DType::F32);
    /// ```
    pub fn weight<T: Element>(index: usize, shape: &'a [usize]) -> Self {
        ParamSpec { index, shape, dtype: T::DTYPE }
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::StateFile { reason: reason.into() }
}

/// `bytes` (little-endian) as a buffer of `dtype`.
fn decode(dtype: DType, bytes: &[u8]) -> Buffer {
    fn each<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        bytes.chunks_exact(N).map(|c| f(c.try_into().expect("chunks_exact gives N bytes"))).collect()
    }
    match dtype {
        DType::F16 => Buffer::F16(each(bytes, f16::from_le_bytes)),
        DType::BF16 => Buffer::BF16(each(bytes, bf16::from_le_bytes)),
        DType::F32 => Buffer::F32(each(bytes, f32::from_le_bytes)),
        DType::F64 => Buffer::F64(each(bytes, f64::from_le_bytes)),
    }
}

impl Updater {
    /// Reads a state file written by [`Updater::save`] and rebuilds the updater: optimizer,
    /// configuration, counters, scheduler and every parameter's state. When `expected` is not
    /// empty, the file must fit those weights (each state's shape and dtype, no state for an
    /// unknown index); every mismatch is reported at once.
    pub fn load(path: impl AsRef<Path>, expected: &[ParamSpec<'_>]) -> Result<Updater> {
        let path = path.as_ref();
        let io = |message: String| Error::Io { path: path.display().to_string(), message };
        // A FIFO or a device would block or never end.
        if !std::fs::metadata(path).map_err(|e| io(e.to_string()))?.is_file() {
            return Err(io("not a regular file".into()));
        }
        let bytes = std::fs::read(path).map_err(|e| io(e.to_string()))?;
        Self::load_bytes(&bytes, expected)
    }

    /// [`Updater::load`] from a reader.
    pub fn load_from(mut reader: impl Read, expected: &[ParamSpec<'_>]) -> Result<Updater> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Io { path: "(reader)".into(), message: e.to_string() })?;
        Self::load_bytes(&bytes, expected)
    }

    fn load_bytes(bytes: &[u8], expected: &[ParamSpec<'_>]) -> Result<Updater> {
        let updater = decode_file(bytes)?;
        updater.check_fits(expected)?;
        Ok(updater)
    }

    /// Checks every state against `expected` (nothing to check when it is empty).
    fn check_fits(&self, expected: &[ParamSpec<'_>]) -> Result<()> {
        if expected.is_empty() {
            return Ok(());
        }
        let mut mismatches = Vec::new();
        for (index, state) in self.states() {
            match expected.iter().find(|p| p.index == index) {
                None => mismatches.push(format!("parameter {index}: in the file but not among the weights")),
                Some(p) if p.shape != state.shape() || p.dtype != state.dtype() => mismatches.push(format!(
                    "parameter {index}: the file has {} {:?}, the weight is {} {:?}",
                    state.dtype(),
                    state.shape(),
                    p.dtype,
                    p.shape
                )),
                Some(_) => {}
            }
        }
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(Error::StateFileMismatch { mismatches })
        }
    }
}

fn decode_file(bytes: &[u8]) -> Result<Updater> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| {
        bad(truncation(bytes)
            .unwrap_or_else(|| format!("not a safetensors file, the format adamant writes ({e})")))
    })?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let not_ours = || bad("a safetensors file without adamant's metadata (a model's weights?)");
    let info = header.metadata().as_ref().ok_or_else(not_ours)?;
    let document = info.get(KEY).ok_or_else(not_ours)?;
    // Compared as text, exactly as written: parsing would accept `A` for `a` and miss a flip.
    if info.get(CRC_KEY) != Some(&format!("{:08x}", crc32fast::hash(document.as_bytes()))) {
        return Err(bad("the metadata's checksum does not match"));
    }
    let meta: Metadata = serde_json::from_str(document).map_err(|e| bad(format!("metadata: {e}")))?;
    if meta.format != FORMAT {
        return Err(bad(format!("format {:?}, expected {FORMAT:?}", meta.format)));
    }
    if !(1..=VERSION).contains(&meta.version) {
        return Err(bad(format!("version {} (this build reads versions 1 to {VERSION})", meta.version)));
    }
    let mut optimizer = crate::create(&meta.optimizer, &meta.config).map_err(in_file)?;
    let scheduler = meta.scheduler_state.map(|s| (s.base_lr, s.count, s.cur_step_ind));
    let base = optimizer.base_mut();
    base.restore(meta.learning_rate, meta.num_update, &meta.update_counts, scheduler).map_err(in_file)?;
    optimizer.restore_scalars(&meta.optimizer_scalars).map_err(in_file)?;
    let described: usize = meta.params.iter().map(|p| p.arrays.len()).sum();
    if file.len() != described {
        let listed = |name: &str| {
            meta.params.iter().any(|p| p.arrays.iter().any(|a| name == format!("{}.{}", p.index, a.name)))
        };
        let extra = file.names().into_iter().find(|name| !listed(name)).map_or("", |n| n);
        return Err(bad(format!("array {extra} is not described by the metadata")));
    }

    let mut states = Vec::with_capacity(meta.params.len());
    for param in &meta.params {
        let index = param.index;
        let mut arrays: Vec<(String, Buffer)> = Vec::new();
        for array in &param.arrays {
            let name = format!("{index}.{}", array.name);
            let view = file.tensor(&name).map_err(|_| bad(format!("array {name} is missing")))?;
            if view.shape() != param.shape.as_slice() {
                return Err(bad(format!(
                    "array {name} has shape {:?}, expected {:?}",
                    view.shape(),
                    param.shape
                )));
            }
            if crc32fast::hash(view.data()) != array.crc32 {
                return Err(bad(format!("array {name}: checksum does not match")));
            }
            let dtype = [DType::F16, DType::BF16, DType::F32, DType::F64]
                .into_iter()
                .find(|&d| safetensors_dtype(d) == view.dtype())
                .ok_or_else(|| bad(format!("array {name} has dtype {:?}", view.dtype())))?;
            // Version 1 called the master copy `master`.
            let array_name =
                if meta.version == 1 && array.name == "master" { MASTER } else { array.name.as_str() };
            arrays.push((array_name.to_string(), decode(dtype, view.data())));
        }
        if optimizer.base().update_count(index).is_none() {
            return Err(bad(format!("parameter {index} has state but no update count")));
        }
        let layout = optimizer.layout(param.dtype);
        let state = State::from_arrays(&layout, &param.shape, param.dtype, arrays)
            .map_err(|e| bad(format!("parameter {index}: {e}")))?;
        states.push((index, state));
    }
    Updater::with_states(optimizer, states).map_err(bad)
}

/// An error of the configuration or counters a file holds, as a state-file error.
fn in_file(e: Error) -> Error {
    match e {
        Error::StateFile { .. } => e,
        other => bad(other.to_string()),
    }
}

/// Why `bytes`, which do not read as a safetensors file, look cut short, if they do: fewer bytes
/// than the header length, or than the header's arrays need.
fn truncation(bytes: &[u8]) -> Option<String> {
    let Some((length, rest)) = bytes.split_first_chunk::<8>() else {
        return Some(format!("truncated: {} bytes, fewer than the 8 of the header length", bytes.len()));
    };
    let header_len = usize::try_from(u64::from_le_bytes(*length)).ok()?;
    // A safetensors header is a JSON object of at most 100 MB (safetensors' own limit): anything
    // else is another kind of file (a text file's first 8 bytes read as some 10^18).
    if header_len > 100_000_000 || rest.first().is_some_and(|&b| b != b'{') {
        return None;
    }
    let Some(header) = rest.get(..header_len) else {
        return Some(format!("truncated: the header says {header_len} bytes, {} follow", rest.len()));
    };
    let header: serde_json::Value = serde_json::from_slice(header).ok()?;
    let needed = header
        .as_object()?
        .values()
        .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .and_then(|end| usize::try_from(end).ok())?;
    let data = rest.len().saturating_sub(header_len);
    (needed > data).then(|| format!("truncated: the arrays need {needed} bytes, {data} follow the header"))
}
