//! The state-file loader on arbitrary bytes: it must return, never panic, and never allocate
//! beyond what the input justifies. Seed with `fuzz/seeds/load_state` (valid files).
//!
//! Each input is also read as the dimensions of a forged file, valid in every other respect
//! (checksums included), so that the shapes reach the loader's own checks: huge dimensions,
//! products past 2^64, zero dimensions, shapes that disagree with the data.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = [adamant::ParamSpec { index: 0, shape: &[5], dtype: adamant::DType::F16 }];
    let _ = adamant::Updater::load_from(data, &[]);
    let _ = adamant::Updater::load_from(data, &spec);
    if let Some((file, dims)) = forged(data) {
        let _ = adamant::Updater::load_from(&file[..], &[]);
        let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        let spec = [adamant::ParamSpec { index: 0, shape: &shape, dtype: adamant::DType::F32 }];
        let _ = adamant::Updater::load_from(&file[..], &spec);
    }
});

/// A float32 state file of one parameter whose shape is the first byte's count (0 to 4) of
/// little-endian u64 dimensions that follow; the bytes after them are its arrays' data.
fn forged(data: &[u8]) -> Option<(Vec<u8>, Vec<u64>)> {
    let (&ndim, rest) = data.split_first()?;
    let ndim = usize::from(ndim % 5);
    let dims: Vec<u64> = rest.chunks_exact(8).take(ndim).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    if dims.len() < ndim {
        return None;
    }
    let payload = &rest[ndim * 8..];
    let (mean, var) = payload.split_at(payload.len() / 2);
    let shape = format!("{dims:?}").replace(' ', "");
    let arrays = format!(
        "[{{\"name\":\"mean\",\"crc32\":{}}},{{\"name\":\"var\",\"crc32\":{}}}]",
        crc32fast::hash(mean),
        crc32fast::hash(var)
    );
    let document = format!(
        "{{\"format\":\"adamant-state\",\"version\":1,\"optimizer\":\"adam\",\"config\":{{}},\
         \"learning_rate\":0.001,\"num_update\":1,\"update_counts\":[[0,1]],\"scheduler_state\":null,\
         \"params\":[{{\"index\":0,\"dtype\":\"float32\",\"shape\":{shape},\"arrays\":{arrays}}}]}}"
    );
    let header = serde_json::json!({
        "__metadata__": {"adamant": document, "adamant_crc32": format!("{:08x}", crc32fast::hash(document.as_bytes()))},
        "0.mean": {"dtype": "F32", "shape": dims, "data_offsets": [0, mean.len()]},
        "0.var": {"dtype": "F32", "shape": dims, "data_offsets": [mean.len(), payload.len()]},
    })
    .to_string();
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(payload);
    Some((file, dims))
}
