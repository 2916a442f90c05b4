//! Writing a state file: encode everything, write a temporary file beside the target, flush it
//! to disk, rename it over the target. A process killed at any moment leaves the old file or
//! the new one, never a mixture.

#![deny(clippy::arithmetic_side_effects)]

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::metadata::{ArrayMeta, Metadata, ParamMeta, SchedulerState, CRC_KEY, FORMAT, KEY, VERSION};
use crate::error::{Error, Result};
use crate::kernel::element::{DType, DataRef};
use crate::updater::Updater;

/// The safetensors dtype of `dtype`.
pub(super) fn safetensors_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

/// Rewrites the JSON header of the safetensors file `bytes` with its keys sorted, so that the
/// same state gives the same bytes: safetensors writes `__metadata__` from a hash map, whose
/// order differs from one map to the next. The same keys and values in another order take the
/// same bytes, so the header's length, padding and the data after it stay where they are.
fn sort_header(bytes: &mut [u8]) -> Result<()> {
    let bad = |reason: &str| Error::StateFile { reason: format!("encoding the header: {reason}") };
    let (len, rest) = bytes.split_first_chunk_mut::<8>().ok_or_else(|| bad("no length"))?;
    let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| bad("length"))?;
    let header = rest.get_mut(..len).ok_or_else(|| bad("length"))?;
    let text = std::str::from_utf8(header).map_err(|_| bad("not UTF-8"))?;
    // serde_json's maps are sorted by key.
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let unpadded = text.trim_end().len();
    let sorted = serde_json::to_string(&value).map_err(|e| bad(&e.to_string()))?;
    if sorted.len() != unpadded {
        return Err(bad("sorting changed its length"));
    }
    header[..unpadded].copy_from_slice(sorted.as_bytes());
    Ok(())
}

/// The little-endian bytes of `data`.
fn le_bytes(data: DataRef<'_>) -> Vec<u8> {
    match data {
        DataRef::F16(d) => d.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DataRef::BF16(d) => d.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DataRef::F32(d) => d.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DataRef::F64(d) => d.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), message: e.to_string() }
}

impl Updater {
    /// The whole state as the bytes of a state file.
    fn encode(&self) -> Result<Vec<u8>> {
        let base = self.optimizer().base();
        let mut arrays: Vec<(String, DType, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut params = Vec::new();
        for (index, state) in self.states() {
            let mut metas = Vec::new();
            for (name, data) in state.arrays() {
                let bytes = le_bytes(data);
                metas.push(ArrayMeta { name: name.to_string(), crc32: crc32fast::hash(&bytes) });
                arrays.push((format!("{index}.{name}"), data.dtype(), state.shape().to_vec(), bytes));
            }
            params.push(ParamMeta {
                index,
                dtype: state.dtype(),
                shape: state.shape().to_vec(),
                arrays: metas,
            });
        }
        let metadata = Metadata {
            format: FORMAT.to_string(),
            version: VERSION,
            optimizer: self.optimizer().name().to_string(),
            config: self.optimizer().config_json(),
            learning_rate: base.fixed_learning_rate(),
            num_update: base.num_update(),
            update_counts: base.update_counts().into_iter().collect(),
            scheduler_state: base.scheduler().map(|s| {
                let (base_lr, count, cur_step_ind) = s.state();
                SchedulerState { base_lr, count, cur_step_ind }
            }),
            optimizer_scalars: self
                .optimizer()
                .scalars()
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
            params,
        };
        let document =
            serde_json::to_string(&metadata).map_err(|e| Error::StateFile { reason: e.to_string() })?;
        let info = HashMap::from([
            (CRC_KEY.to_string(), format!("{:08x}", crc32fast::hash(document.as_bytes()))),
            (KEY.to_string(), document),
        ]);
        let views = arrays
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                let view = TensorView::new(safetensors_dtype(*dtype), shape.clone(), bytes);
                view.map(|v| (name.as_str(), v))
                    .map_err(|e| Error::StateFile { reason: format!("{name}: {e}") })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut bytes = safetensors::serialize(views, Some(info))
            .map_err(|e| Error::StateFile { reason: e.to_string() })?;
        sort_header(&mut bytes)?;
        Ok(bytes)
    }

    /// Writes the optimizer's whole state (configuration, counters, scheduler, every
    /// parameter's arrays) to `writer`, in the format of `docs/state-format.md`.
    pub fn save_to(&self, mut writer: impl Write) -> Result<()> {
        let bytes = self.encode()?;
        writer.write_all(&bytes).map_err(|e| Error::Io { path: "(writer)".into(), message: e.to_string() })
    }

    /// Writes the state to `path`, atomically: a crash leaves the previous file or the new one.
    ///
    /// ```
    /// use adamant::{Param, Updater};
    /// let mut updater = Updater::new(adamant::create("adam", &serde_json::json!({}))?);
    /// let (mut w, g) = (vec![1.0f32; 4], vec![0.5f32; 4]);
    /// updater.update(&mut [Param::dense(0, &[4], &mut w, &g)])?;
    /// let path = std::env::temp_dir().join(format!("adamant-doc-{}.state", std::process::id()));
    /// updater.save(&path)?;
    /// let resumed = Updater::load(&path, &[])?;
    /// assert_eq!(resumed.optimizer().base().num_update(), 1);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), adamant::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.encode()?;
        let name = path.file_name().ok_or_else(|| Error::Io {
            path: format!("{path:?}"),
            message: "not a file name to write to (give a path such as run/state.safetensors)".into(),
        })?;
        let temp = path.with_file_name(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        let written = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temp, path)
        })();
        if let Err(e) = written {
            fs::remove_file(&temp).ok();
            return Err(io_error(path, e));
        }
        // Make the rename itself durable (where directories can be synced).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(dir) = File::open(dir) {
                dir.sync_all().ok();
            }
        }
        Ok(())
    }
}
