//! The state-file loader on arbitrary bytes: it must return, never panic, and never allocate
//! beyond what the input justifies. Seed with `fuzz/seeds/load_state` (valid files).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = [adamant::ParamSpec { index: 0, shape: &[5], dtype: adamant::DType::F16 }];
    let _ = adamant::Updater::load_from(data, &[]);
    let _ = adamant::Updater::load_from(data, &spec);
});
