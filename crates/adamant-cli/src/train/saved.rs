//! `--save-state DIR` / `--resume DIR`: the model weights, the optimizer state and the progress
//! of a run, so that a resumed run continues exactly where it stopped; and the checks that a
//! folder may be written before any training starts.

#![deny(clippy::arithmetic_side_effects)]

use std::collections::HashMap;
use std::path::Path;

use adamant::{Buffer, DType, DataRef};
use anyhow::{bail, Context, Result};
use half::{bf16, f16};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use serde_json::Value;

use super::report::Record;

/// The progress file of a saved run.
pub const PROGRESS: &str = "progress.json";

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn safetensors_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F64 => Dtype::F64,
        _ => Dtype::F32,
    }
}

fn le_bytes(data: DataRef<'_>) -> Vec<u8> {
    match data {
        DataRef::F16(d) => d.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DataRef::BF16(d) => d.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DataRef::F64(d) => d.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DataRef::F32(d) => d.iter().flat_map(|x| x.to_le_bytes()).collect(),
        _ => Vec::new(),
    }
}

/// Saves named arrays as a safetensors file, each in its own dtype.
pub fn save_weights(path: &Path, arrays: &[(&str, DataRef<'_>)]) -> Result<()> {
    let bytes: Vec<(&str, DType, Vec<u8>, usize)> =
        arrays.iter().map(|(n, a)| (*n, a.dtype(), le_bytes(*a), a.len())).collect();
    let views = bytes
        .iter()
        .map(|(n, dtype, b, len)| Ok((*n, TensorView::new(safetensors_dtype(*dtype), vec![*len], b)?)))
        .collect::<Result<Vec<_>>>()?;
    write_atomic(path, &safetensors::serialize(views, None)?)
}

fn decode(dtype: Dtype, bytes: &[u8]) -> Option<Buffer> {
    fn each<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        bytes.chunks_exact(N).map(|c| f(c.try_into().expect("chunks_exact gives N bytes"))).collect()
    }
    Some(match dtype {
        Dtype::F16 => Buffer::F16(each(bytes, f16::from_le_bytes)),
        Dtype::BF16 => Buffer::BF16(each(bytes, bf16::from_le_bytes)),
        Dtype::F32 => Buffer::F32(each(bytes, f32::from_le_bytes)),
        Dtype::F64 => Buffer::F64(each(bytes, f64::from_le_bytes)),
        _ => return None,
    })
}

/// Loads the arrays of [`save_weights`].
pub fn load_weights(path: &Path) -> Result<HashMap<String, Buffer>> {
    let bytes = read_regular(path, None)?;
    let file = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{} is not a weights file", path.display()))?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        let Some(array) = decode(view.dtype(), view.data()) else {
            bail!("{}: {name} has dtype {:?}", path.display(), view.dtype());
        };
        out.insert(name, array);
    }
    Ok(out)
}

/// The array `name` of `weights`, which must hold `len` elements of `dtype`.
pub fn take(weights: &mut HashMap<String, Buffer>, name: &str, len: usize, dtype: DType) -> Result<Buffer> {
    match weights.remove(name) {
        Some(a) if a.len() == len && a.dtype() == dtype => Ok(a),
        Some(a) => bail!("saved {name} is {} x {}, the model needs {dtype} x {len}", a.dtype(), a.len()),
        None => bail!("the saved weights have no {name}"),
    }
}

/// What `progress.json` holds: the run's settings, the last epoch saved, and every model's
/// figures of every epoch so far.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub run: Value,
    pub epoch: usize,
    pub records: Vec<Record>,
}

/// The largest `progress.json` read (a run of 1,000 epochs writes about 200 KiB per model).
const PROGRESS_LIMIT: u64 = 64 << 20;

/// Reads `DIR/progress.json`.
pub fn parse_progress(dir: &Path) -> Result<Progress> {
    let path = dir.join(PROGRESS);
    let text = read_limited(&path, PROGRESS_LIMIT).with_context(|| {
        format!("--resume {}: no saved run there (no readable {PROGRESS})", dir.display())
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
}

/// Reads `DIR/progress.json`, written after epoch `epoch` by `models` models, and checks that it
/// holds one record for each model and epoch, in order.
pub fn read_progress(dir: &Path, models: usize) -> Result<Progress> {
    let progress = parse_progress(dir)?;
    let expected = progress.epoch.checked_mul(models);
    let epoch_of = |i: usize| i.checked_div(models).and_then(|e| e.checked_add(1));
    let in_order = progress.records.iter().enumerate().all(|(i, r)| Some(r.epoch) == epoch_of(i));
    if progress.epoch == 0 || expected != Some(progress.records.len()) || !in_order {
        bail!(
            "{} is damaged: epoch {} with {} records for {models} models",
            dir.join(PROGRESS).display(),
            progress.epoch,
            progress.records.len()
        );
    }
    Ok(progress)
}

/// The bytes of the regular file `path`, refused above `limit` bytes when there is one (a FIFO
/// or a device would block or never end).
pub fn read_regular(path: &Path, limit: Option<u64>) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    if let Some(limit) = limit.filter(|&limit| meta.len() > limit) {
        bail!("{} holds {} bytes, more than the {limit} this reads", path.display(), meta.len());
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The text of the regular file `path`, refused above `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<String> {
    let bytes = read_regular(path, Some(limit))?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// The epoch a folder's `progress.json` says it holds, if it reads.
fn read_progress_epoch(dir: &Path) -> Option<u64> {
    let text = read_limited(&dir.join(PROGRESS), PROGRESS_LIMIT).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["epoch"].as_u64()
}

/// Checks, before any training, that `--save-state dir` can be written: a new or empty folder,
/// or the folder the run resumes from.
pub fn check_save_dir(dir: &Path, resume: Option<&Path>) -> Result<()> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        bail!("--save-state {shown}: this is a file, not a folder; give a new or empty folder");
    }
    let same = |a: &Path, b: &Path| a.canonicalize().ok().is_some_and(|a| Some(a) == b.canonicalize().ok());
    if !dir.exists() || resume.is_some_and(|r| same(dir, r)) {
        return Ok(());
    }
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("--save-state {shown}: cannot read it"))?;
    if entries.next().is_none() {
        return Ok(());
    }
    match read_progress_epoch(dir) {
        Some(epoch) => bail!(
            "--save-state {shown}: the folder holds another run (saved at epoch {epoch}); continue it \
             with --resume {shown}, or give a new or empty folder"
        ),
        None => bail!("--save-state {shown}: the folder is not empty; give a new or empty folder"),
    }
}

/// Checks, before any training, that `path` can be written: its folder exists and accepts a
/// file there. Leaves no file behind.
pub fn check_writable(flag: &str, path: &Path) -> Result<()> {
    let shown = path.display();
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if folder.exists() && !folder.is_dir() {
        bail!("{flag} {shown}: {} is a file, not a folder", folder.display());
    }
    if !folder.is_dir() {
        bail!("{flag} {shown}: the folder {} does not exist", folder.display());
    }
    if path.is_dir() {
        bail!("{flag} {shown}: this is a folder; give a file name");
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("{flag} {shown}: cannot write there"))?;
    if !existed {
        std::fs::remove_file(path).ok();
    }
    Ok(())
}
