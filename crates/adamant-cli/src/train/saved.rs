//! `--save-state DIR` / `--resume DIR`: the model weights, the optimizer state and the progress
//! of a run, so that a resumed run continues exactly where it stopped.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

/// Writes `value` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Saves named float32 arrays as a safetensors file.
pub fn save_weights(path: &Path, arrays: &[(&str, &[f32])]) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, usize)> = arrays
        .iter()
        .map(|(n, a)| (n.to_string(), a.iter().flat_map(|x| x.to_le_bytes()).collect(), a.len()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, b, len)| Ok((n.as_str(), TensorView::new(Dtype::F32, vec![*len], b)?)))
        .collect::<Result<Vec<_>>>()?;
    write_atomic(path, &safetensors::serialize(views, None)?)
}

/// Loads the arrays of [`save_weights`].
pub fn load_weights(path: &Path) -> Result<HashMap<String, Vec<f32>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{} is not a weights file", path.display()))?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != Dtype::F32 {
            bail!("{}: {name} is not float32", path.display());
        }
        out.insert(
            name,
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        );
    }
    Ok(out)
}

/// The array `name` of `weights`, which must have `len` elements.
pub fn take(weights: &mut HashMap<String, Vec<f32>>, name: &str, len: usize) -> Result<Vec<f32>> {
    match weights.remove(name) {
        Some(a) if a.len() == len => Ok(a),
        Some(a) => bail!("saved {name} has {} values, the model needs {len}", a.len()),
        None => bail!("the saved weights have no {name}"),
    }
}

/// Reads `DIR/progress.json`.
pub fn read_progress(dir: &Path) -> Result<Value> {
    let path = dir.join("progress.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot resume: no {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
}
