//! State files: resuming is bitwise the same as never stopping; damaged files are errors,
//! never panics; a file is checked against the weights it is resumed with.

mod common;

use adamant::{
    Buffer, CosineScheduler, DType, Error, FactorScheduler, Grad, LrScheduler, MultiFactorScheduler, Param,
    ParamSpec, PolyScheduler, RowSparseRef, TensorMut, TensorRef, Updater, Warmup, WarmupMode,
};
use common::{bits, dtype, optimizer, to_buffer, value};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Two parameters: a dense tensor and a row-sparse table.
#[derive(Debug, Clone)]
struct Model {
    dense_dtype: DType,
    table_dtype: DType,
    dense: Vec<f64>,
    table: Vec<f64>,
    /// Per step: the dense gradient, the listed rows and their values.
    steps: Vec<(Vec<f64>, Vec<i64>, Vec<f64>)>,
}

const DENSE: [usize; 1] = [37];
const TABLE: [usize; 2] = [11, 3];

fn model(steps: usize) -> impl Strategy<Value = Model> {
    let step = (prop::collection::vec(value(), 37), prop::collection::vec(0i64..11, 0..8)).prop_flat_map(
        |(g, rows)| {
            let n = rows.len() * 3;
            (Just(g), Just(rows), prop::collection::vec(value(), n))
        },
    );
    (
        dtype(),
        dtype(),
        prop::collection::vec(value(), 37),
        prop::collection::vec(value(), 33),
        prop::collection::vec(step, steps),
    )
        .prop_map(|(dense_dtype, table_dtype, dense, table, steps)| Model {
            dense_dtype,
            table_dtype,
            dense,
            table,
            steps,
        })
}

fn scheduler() -> impl Strategy<Value = Option<LrScheduler>> {
    let warm = (0u64..3, prop_oneof![Just(WarmupMode::Linear), Just(WarmupMode::Constant)]);
    prop_oneof![
        Just(None),
        (1u64..3, 0.3..1.0f64, warm.clone()).prop_map(|(step, f, (w, m))| Some(
            FactorScheduler {
                factor: f,
                stop_factor_lr: 1e-4,
                base_lr: 0.05,
                warmup: Warmup { steps: w, begin_lr: 0.001, mode: m },
                ..FactorScheduler::new(step)
            }
            .build()
            .unwrap()
        )),
        (0.3..1.0f64, warm.clone()).prop_map(|(f, (w, m))| Some(
            MultiFactorScheduler {
                factor: f,
                base_lr: 0.05,
                warmup: Warmup { steps: w, begin_lr: 0.001, mode: m },
                ..MultiFactorScheduler::new(vec![3, 5])
            }
            .build()
            .unwrap()
        )),
        (1.0..3.0f64, warm.clone()).prop_map(|(p, (w, m))| Some(
            PolyScheduler {
                base_lr: 0.05,
                pwr: p,
                final_lr: 0.001,
                warmup: Warmup { steps: w, begin_lr: 0.0, mode: m },
                ..PolyScheduler::new(9)
            }
            .build()
            .unwrap()
        )),
        warm.prop_map(|(w, m)| Some(
            CosineScheduler {
                base_lr: 0.05,
                final_lr: 0.0,
                warmup: Warmup { steps: w, begin_lr: 0.0, mode: m },
                ..CosineScheduler::new(9)
            }
            .build()
            .unwrap()
        )),
    ]
}

/// Array bits, `(index, count)` pairs, `num_update`, and the bits of the rate now.
type Observed = (Vec<Vec<u64>>, Vec<(usize, u64)>, u64, u64);

struct Run {
    updater: Updater,
    dense: Buffer,
    table: Buffer,
}

impl Run {
    fn new(name: &str, config: &Value, model: &Model) -> Run {
        Run {
            updater: Updater::new(
                adamant::create(name, &common::fitted(config, [model.dense_dtype, model.table_dtype]))
                    .unwrap(),
            ),
            dense: to_buffer(&model.dense, model.dense_dtype),
            table: to_buffer(&model.table, model.table_dtype),
        }
    }

    fn step(&mut self, model: &Model, s: usize) {
        let (g, rows, values) = &model.steps[s];
        let (g, values) = (to_buffer(g, model.dense_dtype), to_buffer(values, model.table_dtype));
        let sparse =
            Grad::RowSparse(RowSparseRef { shape: &TABLE, row_indices: rows, values: values.as_ref() });
        self.updater
            .update(&mut [
                Param::new(
                    0,
                    TensorMut { shape: &DENSE, data: self.dense.as_mut() },
                    Grad::Dense(TensorRef { shape: &DENSE, data: g.as_ref() }),
                ),
                Param::new(1, TensorMut { shape: &TABLE, data: self.table.as_mut() }, sparse),
            ])
            .unwrap();
    }

    /// Everything observable: weights, every state array, counters, the rate now.
    fn observe(&self) -> Observed {
        let mut arrays = vec![bits(self.dense.as_ref()), bits(self.table.as_ref())];
        for (_, state) in self.updater.states() {
            arrays.extend(state.arrays().map(|(_, a)| bits(a)));
        }
        let base = self.updater.optimizer().base();
        (
            arrays,
            base.update_counts().into_iter().collect(),
            base.num_update(),
            base.learning_rate().to_bits(),
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn resuming_from_a_file_equals_never_stopping(
        (name, mut config) in optimizer(), lazy in any::<bool>(), scheduler in scheduler(),
        (n, model) in (1usize..4, 1usize..4).prop_flat_map(|(n, m)| (Just(n), model(n + m))),
    ) {
        config["lazy_update"] = json!(lazy);
        if lazy && config["rule"] == "torch" {
            // SparseAdam has neither (and refuses them).
            (config["wd"], config["amsgrad"]) = (json!(0.0), json!(false));
        }
        if let Some(scheduler) = scheduler {
            // With a scheduler the rate comes from it (an explicit rate below the warmup's
            // begin rate is refused, rightly).
            config["learning_rate"] = Value::Null;
            config["lr_scheduler"] = scheduler.to_json();
        }
        let mut straight = Run::new(&name, &config, &model);
        let mut stopped = Run::new(&name, &config, &model);
        for s in 0..model.steps.len() {
            straight.step(&model, s);
        }
        for s in 0..n {
            stopped.step(&model, s);
        }
        let mut file = Vec::new();
        stopped.updater.save_to(&mut file).unwrap();
        let specs = [
            ParamSpec { index: 0, shape: &DENSE, dtype: model.dense_dtype },
            ParamSpec { index: 1, shape: &TABLE, dtype: model.table_dtype },
        ];
        let mut resumed = Run { updater: Updater::load_from(&file[..], &specs).unwrap(), ..stopped };
        for s in n..model.steps.len() {
            resumed.step(&model, s);
        }
        prop_assert_eq!(resumed.observe(), straight.observe());
    }
}

/// A small state file: a float16 parameter with master weights and a float32 one, after two
/// steps under a factor scheduler.
fn small_file() -> Vec<u8> {
    let config =
        json!({"multi_precision": true, "lr_scheduler": {"type": "factor", "step": 1, "factor": 0.5}});
    let mut updater = Updater::new(adamant::create("adam", &config).unwrap());
    let mut w16 = vec![half::f16::from_f32(0.5); 5];
    let g16 = vec![half::f16::from_f32(0.25); 5];
    let (mut w32, g32) = (vec![1.0f32; 4], vec![-0.5f32; 4]);
    for _ in 0..2 {
        updater
            .update(&mut [Param::dense(0, &[5], &mut w16, &g16), Param::dense(3, &[2, 2], &mut w32, &g32)])
            .unwrap();
    }
    let mut file = Vec::new();
    updater.save_to(&mut file).unwrap();
    file
}

#[test]
fn the_same_state_is_saved_as_the_same_bytes() {
    // safetensors keeps the header's metadata in a hash map, whose order differs between maps.
    let first = small_file();
    for _ in 0..20 {
        assert!(small_file() == first, "two saves of the same state differ");
    }
    let resumed = Updater::load_from(&first[..], &[]).unwrap();
    let mut again = Vec::new();
    resumed.save_to(&mut again).unwrap();
    assert!(again == first, "a loaded state saved again differs");
}

#[test]
fn every_truncation_is_an_error() {
    let file = small_file();
    assert!(Updater::load_from(&file[..], &[]).is_ok());
    for len in 0..file.len() {
        match Updater::load_from(&file[..len], &[]) {
            Err(Error::StateFile { reason }) => {
                assert!(reason.starts_with("truncated: "), "cut at {len}: {reason}")
            }
            other => panic!("a file cut at {len} of {} bytes: {other:?}", file.len()),
        }
    }
}

#[test]
fn every_bit_flip_is_an_error() {
    let file = small_file();
    let header_end = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let mut undetected = Vec::new();
    for bit in 0..file.len() * 8 {
        let mut damaged = file.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        // The header's trailing padding spaces carry nothing, so flips there may go unnoticed;
        // every other flip must be refused.
        let padding = bit / 8 < header_end && file[bit / 8..header_end].iter().all(|&b| b == b' ');
        if Updater::load_from(&damaged[..], &[]).is_ok() && !padding {
            undetected.push(bit);
        }
    }
    assert!(undetected.is_empty(), "flips of bits {undetected:?} went unnoticed");
}

#[test]
fn a_file_that_does_not_fit_the_weights_lists_every_mismatch() {
    let file = small_file();
    let specs = [
        ParamSpec { index: 0, shape: &[6], dtype: DType::F16 },
        ParamSpec { index: 3, shape: &[2, 2], dtype: DType::F64 },
    ];
    match Updater::load_from(&file[..], &specs) {
        Err(Error::StateFileMismatch { mismatches }) => assert_eq!(mismatches.len(), 2, "{mismatches:?}"),
        other => panic!("expected a mismatch, got {other:?}"),
    }
    let only_one = [ParamSpec { index: 0, shape: &[5], dtype: DType::F16 }];
    assert!(
        matches!(Updater::load_from(&file[..], &only_one), Err(Error::StateFileMismatch { .. })),
        "index 3 is unknown"
    );
    let fitting = [
        ParamSpec { index: 0, shape: &[5], dtype: DType::F16 },
        ParamSpec { index: 3, shape: &[2, 2], dtype: DType::F32 },
    ];
    assert!(Updater::load_from(&file[..], &fitting).is_ok());
}

/// `file` with its metadata document changed by `edit` (and its checksum made to match, as a
/// writer of that document would).
fn with_metadata(file: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let tensors = safetensors::SafeTensors::deserialize(file).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(file).unwrap();
    let mut document: serde_json::Value =
        serde_json::from_str(&header.metadata().as_ref().unwrap()["adamant"]).unwrap();
    edit(&mut document);
    let document = document.to_string();
    let mut crc = flate2::Crc::new();
    crc.update(document.as_bytes());
    let info = std::collections::HashMap::from([
        ("adamant".to_string(), document),
        ("adamant_crc32".to_string(), format!("{:08x}", crc.sum())),
    ]);
    safetensors::serialize(tensors.tensors(), Some(info)).unwrap()
}

#[test]
fn another_version_or_format_is_refused_with_a_clear_error() {
    let file = small_file();
    assert!(Updater::load_from(&with_metadata(&file, |_| {})[..], &[]).is_ok(), "re-encoding alone is fine");
    let newer = with_metadata(&file, |d| d["version"] = json!(3));
    let err = Updater::load_from(&newer[..], &[]).unwrap_err();
    assert!(err.to_string().contains("version 3"), "{err}");
    let other = with_metadata(&file, |d| d["format"] = json!("pickle"));
    assert!(matches!(Updater::load_from(&other[..], &[]), Err(Error::StateFile { .. })));
    let absurd = with_metadata(&file, |d| d["params"][0]["shape"] = json!([usize::MAX, 2]));
    assert!(matches!(Updater::load_from(&absurd[..], &[]), Err(Error::StateFile { .. })));
    // Counters that run ahead of num_update (the largest count there has been) contradict it.
    let ahead =
        with_metadata(&file, |d| d["update_counts"][0][1] = json!(d["num_update"].as_u64().unwrap() + 1));
    let err = Updater::load_from(&ahead[..], &[]).unwrap_err();
    assert!(matches!(&err, Error::StateFile { reason } if reason.contains("past num_update")), "{err}");
    let not_a_file = Updater::load_from(&b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "[..], &[]).unwrap_err();
    assert!(matches!(not_a_file, Error::StateFile { .. }), "{not_a_file}");
}

#[test]
fn saving_to_a_path_replaces_the_file_and_leaves_no_temporary() {
    let dir = std::env::temp_dir().join(format!("adamant-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.safetensors");
    let mut updater = Updater::new(adamant::create("adam", &json!({})).unwrap());
    let (mut w, g) = (vec![1.0f32; 3], vec![0.5f32; 3]);
    for _ in 0..2 {
        updater.update(&mut [Param::dense(0, &[3], &mut w, &g)]).unwrap();
        updater.save(&path).unwrap();
    }
    assert_eq!(Updater::load(&path, &[]).unwrap().optimizer().base().num_update(), 2);
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["state.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The steps of `tests/fixtures/adam-v1.safetensors`, written by the version-1 code (before the
/// rule engine): a float32 weight, a float16 weight with master weights, a float64 table with
/// row-sparse gradients (parameter 2 skips step 1), factor scheduler, clipping.
fn v1_run() -> Updater {
    use half::f16;
    let config = json!({"learning_rate": 0.01, "wd": 1e-3, "multi_precision": true,
        "lr_scheduler": {"type": "factor", "step": 2, "factor": 0.5}, "clip_gradient": 0.3});
    let mut updater = Updater::new(adamant::create("adam", &config).unwrap());
    let mut w0: Vec<f32> = (0..6).map(|i| 0.1 * i as f32 - 0.2).collect();
    let mut w1: Vec<f16> = (0..4).map(|i| f16::from_f32(0.5 - 0.25 * i as f32)).collect();
    let mut w2: Vec<f64> = (0..10).map(|i| 0.05 * i as f64).collect();
    for step in 0..3 {
        let g0: Vec<f32> = (0..6).map(|i| ((i + step) as f32).sin()).collect();
        let g1: Vec<f16> = (0..4).map(|i| f16::from_f32(((i * 2 + step) as f32).cos())).collect();
        let rows = [4i64, 1, 4];
        let v2: Vec<f64> = (0..6).map(|i| ((i + 3 * step) as f64).sin() * 0.5).collect();
        let mut batch = vec![
            Param::dense(0, &[2, 3], &mut w0, &g0),
            Param::dense(1, &[4], &mut w1, &g1),
            Param::row_sparse(2, &[5, 2], &mut w2, &rows, &v2),
        ];
        if step == 1 {
            batch.truncate(2);
        }
        updater.update(&mut batch).unwrap();
    }
    updater
}

#[test]
fn a_version_1_file_loads_to_the_state_it_saved() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adam-v1.safetensors");
    let loaded = Updater::load(&path, &[]).unwrap();
    let live = v1_run();
    let arrays = |u: &Updater| -> Vec<(usize, String, Vec<u64>)> {
        u.states()
            .into_iter()
            .flat_map(|(i, s)| s.arrays().map(move |(n, a)| (i, n.to_string(), bits(a))).collect::<Vec<_>>())
            .collect()
    };
    assert_eq!(arrays(&loaded), arrays(&live));
    assert_eq!(
        arrays(&loaded).iter().filter(|(_, n, _)| n == "weight32").count(),
        1,
        "the master copy, once called master"
    );
    let (a, b) = (loaded.optimizer().base(), live.optimizer().base());
    assert_eq!(
        (a.num_update(), a.update_counts(), a.learning_rate()),
        (b.num_update(), b.update_counts(), b.learning_rate())
    );
    assert_eq!(loaded.optimizer().config_json(), live.optimizer().config_json());
}

#[test]
fn a_path_that_is_not_a_regular_file_is_named_not_read() {
    let dir = std::env::temp_dir();
    match Updater::load(&dir, &[]) {
        Err(Error::Io { path, message }) => {
            assert_eq!((path, message), (dir.display().to_string(), "not a regular file".to_string()))
        }
        other => panic!("expected an I/O error naming the folder, got {other:?}"),
    }
}

/// The reason of the state-file error `bytes` gives.
#[track_caller]
fn refused_because(bytes: &[u8]) -> String {
    match Updater::load_from(bytes, &[]) {
        Err(Error::StateFile { reason }) => reason,
        other => panic!("expected a state-file error, got {other:?}"),
    }
}

#[test]
fn counters_and_arrays_that_contradict_each_other_are_refused() {
    // small_file: indices 0 and 3, two updates each, begin_num_update 0.
    let file = small_file();
    for (edit, says) in [
        (json!({"update_counts": []}), "parameter 0 has state but no update count"),
        (json!({"update_counts": [[0, 2], [0, 1], [3, 2]]}), "index 0 has two update counts"),
        (
            json!({"update_counts": [[0, 0], [3, 2]]}),
            "index 0 has update count 0, not past begin_num_update 0",
        ),
        (json!({"update_counts": [[0, 3], [3, 2]]}), "the update count of index 0 is 3, past num_update 2"),
        (
            json!({"num_update": 1, "update_counts": [[0, 1], [3, 1]], "config": {"begin_num_update": 5}}),
            "num_update 1 is below begin_num_update 5",
        ),
        (json!({"learning_rate": -1.0}), "hyper-parameter learning_rate = -1.0: must be finite and >= 0"),
        (json!({"optimizer": "adamw"}), "unknown hyper-parameter \"wd_order\" for adamw"),
    ] {
        let forged = with_metadata(&file, |d| {
            for (k, v) in edit.as_object().unwrap() {
                if k == "config" {
                    d["config"]["begin_num_update"] = v["begin_num_update"].clone();
                } else {
                    d[k] = v.clone();
                }
            }
        });
        let reason = refused_because(&forged);
        assert!(reason.contains(says), "{edit}: {reason}");
    }
    // Version 1's name of the master copy is not a version-2 name.
    let renamed = with_metadata(&file, |d| d["params"][0]["arrays"][2]["name"] = json!("master"));
    assert!(refused_because(&renamed).contains("array 0.master is missing"), "{}", refused_because(&renamed));
}

#[test]
fn an_array_the_metadata_does_not_describe_is_refused() {
    let file = small_file();
    let tensors = safetensors::SafeTensors::deserialize(&file).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&file).unwrap();
    let junk = vec![0u8; 64];
    let extra = safetensors::tensor::TensorView::new(safetensors::Dtype::U8, vec![64], &junk).unwrap();
    let mut all: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors.tensors();
    all.push(("9.junk".to_string(), extra));
    let bytes = safetensors::serialize(all, header.metadata().clone()).unwrap();
    assert_eq!(refused_because(&bytes), "array 9.junk is not described by the metadata");
}

#[test]
fn adamws_skip_of_a_non_finite_rescale_grad_survives_a_resume() {
    for rescale_grad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut updater = Updater::new(adamant::create("adamw", &json!({"learning_rate": 0.1})).unwrap());
        let (mut w, g) = (vec![1.0f32; 3], vec![0.5f32; 3]);
        updater.update(&mut [Param::dense(0, &[3], &mut w, &g)]).unwrap();
        updater.optimizer_mut().set_rescale_grad(rescale_grad).unwrap();
        let mut file = Vec::new();
        updater.save_to(&mut file).unwrap();
        let mut resumed = Updater::load_from(&file[..], &[]).unwrap();
        let mut w2 = w.clone();
        updater.update(&mut [Param::dense(0, &[3], &mut w, &g)]).unwrap();
        resumed.update(&mut [Param::dense(0, &[3], &mut w2, &g)]).unwrap();
        assert_eq!(w2, w, "rescale_grad {rescale_grad}: the step is skipped after a resume too");
        assert_eq!(resumed.optimizer().base().num_update(), 2, "and counted");
    }
}

#[test]
fn another_kind_of_file_is_not_called_truncated() {
    let json = br#"{"run": {"task": "digits"}, "epoch": 3, "records": []}"#;
    let reason = refused_because(json);
    assert!(reason.starts_with("not a safetensors file, the format adamant writes"), "{reason}");
}

#[test]
fn saving_to_a_path_without_a_file_name_says_so() {
    let updater = Updater::new(adamant::create("adam", &json!({})).unwrap());
    for path in ["", "/", ".."] {
        let err = updater.save(path).unwrap_err().to_string();
        assert!(
            err.ends_with("not a file name to write to (give a path such as run/state.safetensors)"),
            "{path:?}: {err}"
        );
    }
}
