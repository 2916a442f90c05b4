//! Every validation error, with the index and value it names, and proof that nothing changed
//! after it: weights, states, counters and `num_update`.

use adamant::{
    AdamConfig, DataMut, Error, Optimizer, OptimizerConfig, Param, State, StateMut, TensorMut, Updater,
};
use serde_json::json;

fn invalid_hyper(result: Result<Box<dyn Optimizer>, Error>) -> (&'static str, String) {
    match result {
        Err(Error::InvalidHyperParameter { name, value, .. }) => (name, value),
        other => panic!("expected InvalidHyperParameter, got {other:?}"),
    }
}

#[test]
fn hyper_parameters_out_of_range_are_named_with_their_value() {
    let cases = [
        (json!({"beta1": 1.0}), "beta1", "1.0"),
        (json!({"beta1": -0.1}), "beta1", "-0.1"),
        (json!({"beta2": 1.5}), "beta2", "1.5"),
        (json!({"learning_rate": -0.01}), "learning_rate", "-0.01"),
        (json!({"epsilon": -1e-8}), "epsilon", "-1e-8"),
        (json!({"wd": -0.5}), "wd", "-0.5"),
        (json!({"rescale_grad": -2.0}), "rescale_grad", "-2.0"),
        // Tiny and huge values as written, not as fifty digits.
        (json!({"epsilon": 1e-50}), "epsilon", "1e-50"),
        (json!({"learning_rate": 1e40}), "learning_rate", "1e40"),
    ];
    for (config, name, value) in cases {
        assert_eq!(invalid_hyper(adamant::create("adam", &config)), (name, value.to_string()), "{config}");
    }
}

#[test]
fn non_finite_hyper_parameters_are_rejected() {
    // JSON has no NaN or infinity, so these come through the Rust configuration.
    for (config, name) in [
        (AdamConfig { beta2: f64::NAN, ..AdamConfig::default() }, "beta2"),
        (AdamConfig { epsilon: f64::INFINITY, ..AdamConfig::default() }, "epsilon"),
        (
            AdamConfig {
                base: OptimizerConfig { learning_rate: Some(f64::NAN), ..OptimizerConfig::default() },
                ..AdamConfig::default()
            },
            "learning_rate",
        ),
        (
            AdamConfig {
                base: OptimizerConfig { wd: f64::INFINITY, ..OptimizerConfig::default() },
                ..AdamConfig::default()
            },
            "wd",
        ),
        (
            AdamConfig {
                base: OptimizerConfig { rescale_grad: f64::NEG_INFINITY, ..OptimizerConfig::default() },
                ..AdamConfig::default()
            },
            "rescale_grad",
        ),
    ] {
        match config.build() {
            Err(Error::InvalidHyperParameter { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected an error, got {other:?}"),
        }
    }
}

#[test]
fn bad_multipliers_name_their_key() {
    let err = adamant::create("adam", &json!({"lr_mult": {"by_index": {"3": -1.0}}})).unwrap_err();
    assert_eq!(err, Error::InvalidMultiplier { kind: "lr_mult", key: "index 3".into(), value: -1.0 });
    let err = adamant::create("adam", &json!({"wd_mult": {"by_name": {"fc_bias": -2.0}}})).unwrap_err();
    assert_eq!(err.to_string(), "wd_mult for name \"fc_bias\" = -2.0: must be finite and >= 0");
}

#[test]
fn registry_errors_name_what_is_wrong() {
    let err = adamant::create("sgd", &json!({})).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownOptimizer { known, .. } if *known == adamant::OPTIMIZERS.join(", ")),
        "{err}"
    );
    let err = adamant::create("adam", &json!({"momentum": 0.9})).unwrap_err();
    assert!(matches!(&err, Error::UnknownHyperParameter { name, .. } if name == "momentum"), "{err}");
    assert!(err.to_string().contains("beta1"), "the error lists the known names: {err}");
    // PyTorch's names point to ours, through the registry, for each optimizer.
    for name in adamant::OPTIMIZERS {
        for (theirs, ours) in
            [("lr", "learning_rate"), ("weight_decay", "wd"), ("eps", "epsilon"), ("betas", "beta1")]
        {
            let err = adamant::create(name, &json!({theirs: 0.1})).unwrap_err().to_string();
            assert!(err.contains(&format!("for {name}; did you mean \"{ours}\"")), "{err}");
        }
    }
    // Several unknown names are reported together, each with its hint.
    let err = adamant::create("adamw", &json!({"lr": 0.1, "betas": [0.9, 0.99], "gamma": 1})).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownHyperParameters { names, .. } if names == &["betas", "gamma", "lr"]),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("; for \"betas\": did you mean \"beta1\" and \"beta2\"? (PyTorch; a pair there); for \"lr\": did you mean \"learning_rate\"? (PyTorch); known: "),
        "{text}"
    );
    let scheduler = json!({"lr_scheduler": {"type": "cosine", "T_max": 10}});
    let err = adamant::create("adam", &scheduler).unwrap_err().to_string();
    assert!(err.contains("did you mean \"max_update\"? (PyTorch's CosineAnnealingLR)"), "{err}");
    let err = adamant::create("adam", &json!({"lr_scheduler": {"type": "StepLR"}})).unwrap_err().to_string();
    assert!(err.contains("must be factor, multifactor, poly or cosine; did you mean \"factor\"?"), "{err}");
    let err = adamant::create("adamw", &json!({"bias_correction": true})).unwrap_err().to_string();
    assert!(err.contains("did you mean \"correct_bias\""), "{err}");
    let err = adamant::create("adam", &json!({"beta1": "0.9"})).unwrap_err();
    assert!(matches!(&err, Error::WrongType { name, .. } if name == "beta1"), "{err}");
    let err = adamant::create("adam", &json!({"lazy_update": 1})).unwrap_err();
    assert!(matches!(&err, Error::WrongType { name, .. } if name == "lazy_update"), "{err}");
    let err = adamant::create("adam", &json!({"begin_num_update": -1})).unwrap_err();
    assert!(matches!(&err, Error::WrongType { name, .. } if name == "begin_num_update"), "{err}");
    let err = adamant::create("adam", &json!({"wd_order": "sideways"})).unwrap_err();
    assert!(matches!(&err, Error::InvalidHyperParameter { name: "wd_order", .. }), "{err}");
    let err = adamant::create("adam", &json!([1, 2])).unwrap_err();
    assert!(matches!(&err, Error::WrongType { .. }), "{err}");
}

/// Weight bits, states, per-index counts and `num_update`: all an update may change.
type Snapshot = (Vec<u32>, Vec<u64>, Vec<(usize, State)>, Vec<(usize, u64)>, u64);

/// An updater that has stepped parameters 0 (float32, 2×3) and 1 (float64, 4) once.
struct Fixture {
    updater: Updater,
    w0: Vec<f32>,
    w1: Vec<f64>,
}

const SHAPE0: [usize; 2] = [2, 3];
const SHAPE1: [usize; 1] = [4];

impl Fixture {
    fn new() -> Self {
        let adam = adamant::create("adam", &json!({"learning_rate": 0.1, "wd": 0.01})).unwrap();
        let mut f = Fixture { updater: Updater::new(adam), w0: vec![0.5; 6], w1: vec![-0.25; 4] };
        let (g0, g1) = ([0.1f32; 6], [0.2f64; 4]);
        f.updater
            .update(&mut [Param::dense(0, &SHAPE0, &mut f.w0, &g0), Param::dense(1, &SHAPE1, &mut f.w1, &g1)])
            .unwrap();
        f
    }

    /// Everything an update may change.
    fn snapshot(&self) -> Snapshot {
        let base = self.updater.optimizer().base();
        (
            self.w0.iter().map(|x| x.to_bits()).collect(),
            self.w1.iter().map(|x| x.to_bits()).collect(),
            self.updater.states().into_iter().map(|(i, s)| (i, s.clone())).collect(),
            base.update_counts().iter().map(|(i, c)| (*i, *c)).collect(),
            base.num_update(),
        )
    }
}

/// Runs a batch whose first entry is valid (parameter 0) and whose second is `bad`; the error
/// must be `expected` and nothing may have changed.
#[track_caller]
fn rejected_without_change(
    bad: impl FnOnce(&mut Vec<f64>) -> (Vec<usize>, Vec<f64>, Option<Vec<f32>>),
    expected: Error,
) {
    let mut f = Fixture::new();
    let before = f.snapshot();
    let g0 = [0.3f32; 6];
    let mut w1 = f.w1.clone();
    let (shape, grad64, grad32) = bad(&mut w1);
    let w1_given = w1.clone();
    let second = match &grad32 {
        // A float32 gradient for the float64 weight of parameter 1.
        Some(g32) => Param::new(
            1,
            TensorMut::new(&shape, &mut w1),
            adamant::Grad::Dense(adamant::TensorRef::new(&shape, g32)),
        ),
        None => Param::new(
            1,
            TensorMut::new(&shape, &mut w1),
            adamant::Grad::Dense(adamant::TensorRef::new(&shape, &grad64)),
        ),
    };
    let err = f.updater.update(&mut [Param::dense(0, &SHAPE0, &mut f.w0, &g0), second]).unwrap_err();
    assert_eq!(err, expected);
    assert_eq!(w1, w1_given, "the rejected weight changed");
    assert!(f.snapshot() == before, "weights, states or counters changed after {err}");
}

#[test]
fn gradient_of_another_shape_is_rejected_without_change() {
    let mut f = Fixture::new();
    let before = f.snapshot();
    let (g0, g1) = ([0.3f32; 6], [0.2f64; 4]);
    let err = f
        .updater
        .update(&mut [
            Param::dense(0, &SHAPE0, &mut f.w0, &g0),
            Param::new(
                1,
                TensorMut::new(&SHAPE1, &mut f.w1),
                adamant::Grad::Dense(adamant::TensorRef::new(&[2, 2], &g1)),
            ),
        ])
        .unwrap_err();
    assert_eq!(err, Error::GradShape { index: 1, weight: vec![4], grad: vec![2, 2] });
    assert!(f.snapshot() == before);
}

#[test]
fn gradient_of_another_dtype_is_rejected_without_change() {
    rejected_without_change(
        |_| (SHAPE1.to_vec(), vec![], Some(vec![0.2f32; 4])),
        Error::GradDType { index: 1, weight: adamant::DType::F64, grad: adamant::DType::F32 },
    );
}

#[test]
fn weight_whose_shape_changed_since_its_state_is_rejected_without_change() {
    rejected_without_change(
        |w1| {
            w1.push(0.0);
            (vec![5], vec![0.2; 5], None)
        },
        Error::StateMismatch {
            index: 1,
            weight: vec![5],
            weight_dtype: adamant::DType::F64,
            state: vec![4],
            state_dtype: adamant::DType::F64,
        },
    );
}

#[test]
fn data_shorter_than_its_shape_is_rejected_without_change() {
    rejected_without_change(
        |_| (vec![2, 3], vec![0.2; 6], None),
        Error::ShapeLength { index: 1, what: "weight", len: 4, shape: vec![2, 3], expected: 6 },
    );
}

#[test]
fn repeated_index_in_a_batch_is_rejected_without_change() {
    let mut f = Fixture::new();
    let before = f.snapshot();
    let g0 = [0.3f32; 6];
    let mut other = vec![0.5f32; 6];
    let err = f
        .updater
        .update(&mut [Param::dense(0, &SHAPE0, &mut f.w0, &g0), Param::dense(0, &SHAPE0, &mut other, &g0)])
        .unwrap_err();
    assert_eq!(err, Error::DuplicateIndex { index: 0 });
    assert!(f.snapshot() == before);
}

#[test]
fn a_new_index_in_a_rejected_batch_leaves_no_state_behind() {
    let mut f = Fixture::new();
    let before = f.snapshot();
    let (g2, g1) = ([0.3f32; 3], [0.2f32; 4]);
    let mut w2 = vec![1.0f32; 3];
    let err = f.updater.update(&mut [
        Param::dense(2, &[3], &mut w2, &g2),
        Param::new(
            1,
            TensorMut::new(&SHAPE1, &mut f.w1),
            adamant::Grad::Dense(adamant::TensorRef::new(&SHAPE1, &g1)),
        ),
    ]);
    assert!(matches!(err, Err(Error::GradDType { index: 1, .. })));
    assert!(f.updater.state(2).is_none());
    assert!(f.snapshot() == before);
}

#[test]
fn the_batch_step_checks_the_whole_batch_before_counting() {
    let mut adam = AdamConfig::default().build().unwrap();
    let (mut w0, mut w1, g) = (vec![1.0f32; 3], vec![1.0f32; 3], vec![0.5f32; 3]);
    let mut params = [Param::dense(0, &[3], &mut w0, &g), Param::dense(1, &[3], &mut w1, &g)];
    let (mut m, mut v) = ([0.0f32; 3], [0.0f32; 3]);
    let mut states = [StateMut::new([DataMut::F32(&mut m), DataMut::F32(&mut v)]).unwrap()];
    assert_eq!(adam.update(&mut params, &mut states), Err(Error::StateCount { params: 2, states: 1 }));
    assert_eq!(adam.base().num_update(), 0);
    assert!(adam.base().update_counts().is_empty());
}

#[test]
fn a_borrowed_state_of_the_wrong_arrays_is_refused_before_counting() {
    let mut adam = AdamConfig::default().build().unwrap();
    let (mut w, g) = (vec![1.0f32; 3], vec![0.5f32; 3]);
    let (mut m, mut v, mut short) = ([0.0f32; 3], [0.0f32; 3], [0.0f32; 2]);
    let mut one = [StateMut::new([DataMut::F32(&mut m)]).unwrap()];
    let err = adam.update(&mut [Param::dense(4, &[3], &mut w, &g)], &mut one).unwrap_err();
    assert_eq!(err, Error::StateArrays { index: 4, expected: vec!["mean", "var"], given: 1 });
    let mut wrong = [StateMut::new([DataMut::F32(&mut v), DataMut::F32(&mut short)]).unwrap()];
    let err = adam.update(&mut [Param::dense(4, &[3], &mut w, &g)], &mut wrong).unwrap_err();
    assert_eq!(
        err,
        Error::StateArray {
            index: 4,
            name: "var",
            expected: (adamant::DType::F32, 3),
            given: (adamant::DType::F32, 2)
        }
    );
    assert_eq!((w, adam.base().num_update()), (vec![1.0f32; 3], 0));
}

/// Runs `bad` as the second entry of a batch whose first is valid; checks the error and that
/// nothing changed.
#[track_caller]
fn sparse_rejected_without_change(expected: Error, bad: impl FnOnce(&mut [f64]) -> Param<'_>) {
    let mut f = Fixture::new();
    let before = f.snapshot();
    let g0 = [0.3f32; 6];
    let mut w1 = f.w1.clone();
    let err = f.updater.update(&mut [Param::dense(0, &SHAPE0, &mut f.w0, &g0), bad(&mut w1)]).unwrap_err();
    assert_eq!(err, expected);
    assert_eq!(w1, f.w1);
    assert!(f.snapshot() == before, "something changed after {err}");
}

#[test]
fn row_index_out_of_range_or_negative_is_rejected_without_change() {
    // Parameter 1 is float64 of shape [4]: 4 rows of 1 element.
    sparse_rejected_without_change(Error::RowIndexOutOfRange { index: 1, row: 4, rows: 4 }, |w| {
        Param::row_sparse(1, &SHAPE1, w, &[0, 4], &[0.1, 0.2])
    });
    sparse_rejected_without_change(Error::RowIndexOutOfRange { index: 1, row: -1, rows: 4 }, |w| {
        Param::row_sparse(1, &SHAPE1, w, &[-1], &[0.1])
    });
}

#[test]
fn values_block_of_the_wrong_length_is_rejected_without_change() {
    sparse_rejected_without_change(Error::RowSparseValues { index: 1, listed: 2, row_len: 1, len: 3 }, |w| {
        Param::row_sparse(1, &SHAPE1, w, &[0, 1], &[0.1, 0.2, 0.3])
    });
}

#[test]
fn row_sparse_weight_with_missing_rows_is_rejected_without_change() {
    let missing = Error::MissingWeightRows { index: 1, rows: 4, present: 3, out_of_place: Some((2, 3)) };
    sparse_rejected_without_change(missing, |w| {
        Param::row_sparse(1, &SHAPE1, w, &[0], &[0.1]).with_weight_rows(&[0, 1, 3])
    });
    let swapped = Error::MissingWeightRows { index: 1, rows: 4, present: 4, out_of_place: Some((0, 1)) };
    assert!(swapped.to_string().ends_with("it holds 4 rows, and row 1 at position 0"), "{swapped}");
    sparse_rejected_without_change(swapped, |w| {
        Param::row_sparse(1, &SHAPE1, w, &[0], &[0.1]).with_weight_rows(&[1, 0, 2, 3])
    });
}

#[test]
fn row_sparse_gradient_for_a_scalar_is_rejected() {
    let mut updater = Updater::new(adamant::create("adam", &json!({})).unwrap());
    let mut w = [1.0f32];
    let err = updater.update(&mut [Param::row_sparse(0, &[], &mut w, &[0], &[0.5])]).unwrap_err();
    assert_eq!(err, Error::RowSparseScalar { index: 0 });
    assert_eq!(w, [1.0]);
    assert!(updater.state(0).is_none());
    assert_eq!(updater.optimizer().base().num_update(), 0);
}

#[test]
fn an_index_twice_in_one_batch_of_the_optimizer_is_refused_without_change() {
    let mut adam = adamant::create("adam", &json!({})).unwrap();
    let (mut w1, mut w2, g) = ([1.0f32, 2.0], [3.0f32, 4.0], [0.5f32, 0.5]);
    let mut arrays = [[0.0f32; 2]; 4];
    let [a, b, c, d] = &mut arrays;
    let mut states = [
        StateMut::new([DataMut::F32(a), DataMut::F32(b)]).unwrap(),
        StateMut::new([DataMut::F32(c), DataMut::F32(d)]).unwrap(),
    ];
    let mut batch = [Param::dense(9, &[2], &mut w1, &g), Param::dense(9, &[2], &mut w2, &g)];
    assert_eq!(adam.update(&mut batch, &mut states).unwrap_err(), Error::DuplicateIndex { index: 9 });
    assert_eq!((w1, w2, arrays), ([1.0, 2.0], [3.0, 4.0], [[0.0; 2]; 4]));
    assert_eq!((adam.base().num_update(), adam.base().update_count(9)), (0, None));
}

#[test]
fn half_precision_weights_need_master_weights_under_the_torch_rule() {
    for name in ["adam", "adamw"] {
        let mut updater = Updater::new(adamant::create(name, &json!({"rule": "torch"})).unwrap());
        let (mut w, g) = ([half::bf16::ONE; 2], [half::bf16::ONE; 2]);
        let err = updater.update(&mut [Param::dense(4, &[2], &mut w, &g)]).unwrap_err();
        assert!(
            matches!(err, Error::DTypeUnsupported { index: 4, dtype: adamant::DType::BF16, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("need multi_precision under rule torch"), "{err}");
        assert_eq!((w, updater.optimizer().base().num_update()), ([half::bf16::ONE; 2], 0));
        let mut updater =
            Updater::new(adamant::create(name, &json!({"rule": "torch", "multi_precision": true})).unwrap());
        updater.update(&mut [Param::dense(4, &[2], &mut w, &g)]).unwrap();
    }
}

#[test]
fn adamws_decay_factor_is_judged_as_the_kernel_reads_it_under_the_torch_rule() {
    // 1 - lr * wd = -1e40 becomes -inf in float32, and 0 * -inf is NaN.
    let mut updater = Updater::new(
        adamant::create("adamw", &json!({"rule": "torch", "learning_rate": 1e20, "wd": 1e20})).unwrap(),
    );
    let (mut w, g) = ([0.0f32, 1.0], [0.0f32, 0.5]);
    let err = updater.update(&mut [Param::dense(0, &[2], &mut w, &g)]).unwrap_err();
    match &err {
        Error::InvalidHyperParameter { name: "wd", value, reason } => {
            assert_eq!(value, "1e20");
            assert!(reason.contains("AdamW's factor 1 - lr * lr_mult * wd * wd_mult"), "{reason}");
        }
        other => panic!("expected wd to be refused, got {other}"),
    }
    assert_eq!((w, updater.optimizer().base().num_update()), ([0.0, 1.0], 0));
}
