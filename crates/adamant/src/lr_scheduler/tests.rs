//! MXNet's own scheduler expectations (its `test_optimizer.py`), the edges of
//! its strict comparisons, and the validation errors.

use serde_json::json;

use super::{
    CosineScheduler, FactorScheduler, LrScheduler, MultiFactorScheduler, PolyScheduler, Warmup, WarmupMode,
};
use crate::Error;

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 * want.abs().max(1e-300)
}

#[track_caller]
fn expect(s: &mut LrScheduler, table: &[(u64, f64)]) {
    for &(n, want) in table {
        let got = s.lr(n);
        assert!(close(got, want), "lr({n}) = {got}, MXNet gives {want}");
    }
}

#[test]
fn factor_matches_mxnet_test() {
    let mut s = FactorScheduler {
        factor: 0.1,
        stop_factor_lr: 1e-4,
        base_lr: 1.0,
        warmup: Warmup { steps: 20, begin_lr: 0.1, mode: WarmupMode::Constant },
        ..FactorScheduler::new(100)
    }
    .build()
    .unwrap();
    expect(&mut s, &[(0, 0.1), (10, 0.1), (21, 1.0), (101, 0.1), (201, 0.01), (1000, 1e-4)]);
}

#[test]
fn multi_factor_matches_mxnet_test() {
    let mut s = MultiFactorScheduler {
        factor: 0.1,
        base_lr: 0.1,
        warmup: Warmup { steps: 10, begin_lr: 0.05, mode: WarmupMode::Linear },
        ..MultiFactorScheduler::new(vec![15, 25])
    }
    .build()
    .unwrap();
    expect(&mut s, &[(0, 0.05), (5, 0.075), (15, 0.1), (16, 0.01), (20, 0.01), (26, 0.001), (100, 0.001)]);
}

#[test]
fn poly_matches_mxnet_test() {
    let mut s = PolyScheduler {
        base_lr: 3.0,
        pwr: 2.0,
        final_lr: 0.0,
        warmup: Warmup { steps: 100, begin_lr: 0.0, mode: WarmupMode::Linear },
        ..PolyScheduler::new(1000)
    }
    .build()
    .unwrap();
    expect(&mut s, &[(0, 0.0), (50, 1.5), (100, 3.0)]);
    assert!(s.lr(101) < 3.0);
    assert!(s.lr(500) < 1.6);
    assert_eq!(s.lr(1000), 0.0);
}

#[test]
fn cosine_matches_mxnet_test() {
    let mut s =
        CosineScheduler { base_lr: 3.0, final_lr: 0.1, ..CosineScheduler::new(1000) }.build().unwrap();
    assert_eq!(s.lr(0), 3.0);
    assert!(s.lr(500) > 1.5);
    assert!(close(s.lr(1000), 0.1));
}

#[test]
fn cosine_with_warmup_matches_verified_sequence() {
    // MXNet 1.9.1, checked: warmup 2, max_update 10 gives 0, .5, 1, .96194, ..., 0, 0.
    let mut s = CosineScheduler {
        base_lr: 1.0,
        final_lr: 0.0,
        warmup: Warmup { steps: 2, begin_lr: 0.0, mode: WarmupMode::Linear },
        ..CosineScheduler::new(10)
    }
    .build()
    .unwrap();
    let got: Vec<f64> = (0..12).map(|n| s.lr(n)).collect();
    assert_eq!(&got[..3], &[0.0, 0.5, 1.0]);
    assert!((got[3] - 0.96194).abs() < 1e-5, "{got:?}");
    assert!(got[10].abs() < 1e-15 && got[11].abs() < 1e-15, "{got:?}");
}

#[test]
fn factor_decays_strictly_after_each_step() {
    let mut s =
        FactorScheduler { factor: 0.5, stop_factor_lr: 0.0, base_lr: 1.0, ..FactorScheduler::new(10) }
            .build()
            .unwrap();
    assert_eq!(s.lr(10), 1.0);
    assert_eq!(s.lr(11), 0.5);
    assert_eq!(s.lr(20), 0.5);
    assert_eq!(s.lr(21), 0.25);
}

#[test]
fn factor_applies_every_missed_decay_on_a_jump() {
    let mut s =
        FactorScheduler { factor: 0.5, stop_factor_lr: 0.0, base_lr: 1.0, ..FactorScheduler::new(10) }
            .build()
            .unwrap();
    assert_eq!(s.lr(41), 0.0625);
}

#[test]
fn factor_stops_at_its_floor() {
    let mut s =
        FactorScheduler { factor: 0.1, stop_factor_lr: 0.05, base_lr: 1.0, ..FactorScheduler::new(1) }
            .build()
            .unwrap();
    assert_eq!(s.lr(5), 0.05);
}

#[test]
fn multi_factor_decays_strictly_after_each_listed_step() {
    let mut s = MultiFactorScheduler { factor: 0.5, base_lr: 1.0, ..MultiFactorScheduler::new(vec![3, 6]) }
        .build()
        .unwrap();
    assert_eq!(s.lr(3), 1.0);
    assert_eq!(s.lr(4), 0.5);
    assert_eq!(s.lr(6), 0.5);
    assert_eq!(s.lr(7), 0.25);
    assert_eq!(s.lr(1000), 0.25);
}

#[test]
fn poly_and_cosine_keep_their_last_value_after_max_update() {
    let mut poly =
        PolyScheduler { base_lr: 1.0, pwr: 1.0, final_lr: 0.2, ..PolyScheduler::new(4) }.build().unwrap();
    let mut cosine =
        CosineScheduler { base_lr: 1.0, final_lr: 0.2, ..CosineScheduler::new(4) }.build().unwrap();
    for n in 0..=4 {
        poly.lr(n);
        cosine.lr(n);
    }
    assert!(close(poly.lr(100), 0.2));
    assert!(close(cosine.lr(100), 0.2));
}

#[test]
fn explicit_base_lr_overrides_poly_and_cosine() {
    let mut poly = PolyScheduler { base_lr: 3.0, pwr: 1.0, final_lr: 0.0, ..PolyScheduler::new(10) }
        .build()
        .unwrap()
        .with_base_lr(0.5)
        .unwrap();
    let mut cosine = CosineScheduler { base_lr: 3.0, final_lr: 0.0, ..CosineScheduler::new(10) }
        .build()
        .unwrap()
        .with_base_lr(0.5)
        .unwrap();
    assert_eq!(poly.lr(0), 0.5);
    assert_eq!(cosine.lr(0), 0.5);
    assert!(close(poly.lr(5), 0.25));
    assert!(close(cosine.lr(5), 0.25));
}

#[test]
fn from_json_reads_mxnet_names_and_defaults() {
    let mut s = LrScheduler::from_json(&json!({"type": "Factor", "step": 2})).unwrap();
    // Defaults: base_lr 0.01, factor 1 (so no decay).
    assert_eq!(s.lr(100), 0.01);
    let mut s = LrScheduler::from_json(&json!({
        "type": "poly", "max_update": 8, "base_lr": 0.05, "pwr": 1,
        "warmup_steps": 2, "warmup_begin_lr": 0.0, "warmup_mode": "linear"
    }))
    .unwrap();
    assert_eq!(s.lr(1), 0.025);
}

fn invalid_name(r: Result<LrScheduler, Error>) -> &'static str {
    match r {
        Err(Error::InvalidHyperParameter { name, .. }) => name,
        other => panic!("expected an invalid hyper-parameter, got {other:?}"),
    }
}

#[test]
fn invalid_schedules_are_rejected_with_the_parameter_named() {
    assert_eq!(
        invalid_name(
            FactorScheduler { factor: 0.5, stop_factor_lr: 0.0, base_lr: 1.0, ..FactorScheduler::new(0) }
                .build()
        ),
        "step"
    );
    assert_eq!(
        invalid_name(
            FactorScheduler { factor: 1.5, stop_factor_lr: 0.0, base_lr: 1.0, ..FactorScheduler::new(1) }
                .build()
        ),
        "factor"
    );
    assert_eq!(
        invalid_name(
            MultiFactorScheduler { factor: 0.5, base_lr: 1.0, ..MultiFactorScheduler::new(vec![5, 5]) }
                .build()
        ),
        "step"
    );
    assert_eq!(
        invalid_name(
            MultiFactorScheduler { factor: 0.5, base_lr: 1.0, ..MultiFactorScheduler::new(vec![0, 5]) }
                .build()
        ),
        "step"
    );
    assert_eq!(
        invalid_name(
            MultiFactorScheduler { factor: 0.5, base_lr: 1.0, ..MultiFactorScheduler::new(vec![]) }.build()
        ),
        "step"
    );
    assert_eq!(
        invalid_name(
            PolyScheduler { base_lr: 1.0, pwr: 2.0, final_lr: 0.0, ..PolyScheduler::new(0) }.build()
        ),
        "max_update"
    );
    assert_eq!(
        invalid_name(CosineScheduler { base_lr: f64::NAN, final_lr: 0.0, ..CosineScheduler::new(1) }.build()),
        "base_lr"
    );
    let warm = CosineScheduler { base_lr: 0.1, final_lr: 0.0, ..CosineScheduler::new(10) }.build().unwrap();
    assert_eq!(invalid_name(warm.clone().with_warmup(2, 0.2, WarmupMode::Linear)), "warmup_begin_lr");
    assert_eq!(invalid_name(warm.clone().with_warmup(10, 0.0, WarmupMode::Linear)), "max_update");
    assert_eq!(invalid_name(warm.with_base_lr(-1.0)), "learning_rate");
    assert_eq!(
        invalid_name(LrScheduler::from_json(&json!({"type": "factor", "step": 1, "warmup_mode": "cubic"}))),
        "warmup_mode"
    );
    assert_eq!(invalid_name(LrScheduler::from_json(&json!({"type": "step"}))), "lr_scheduler.type");
}

#[test]
fn json_errors_name_the_key() {
    let err = LrScheduler::from_json(&json!({"type": "factor", "step": 1, "gamma": 0.1})).unwrap_err();
    assert!(matches!(&err, Error::UnknownHyperParameter { name, .. } if name == "gamma"), "{err}");
    let err = LrScheduler::from_json(&json!({"type": "factor", "step": "ten"})).unwrap_err();
    assert!(matches!(&err, Error::WrongType { name, .. } if name == "step"), "{err}");
    let err = LrScheduler::from_json(&json!({"type": "cosine"})).unwrap_err();
    assert_eq!(err, Error::MissingHyperParameter { name: "max_update", owner: "cosine scheduler" });
}

/// The rate `f` returns and the multiplications its decays cost.
fn counted(f: impl FnOnce() -> f64) -> (f64, u64) {
    use super::decay::MULTIPLICATIONS;
    MULTIPLICATIONS.with(|m| m.set(0));
    let rate = f();
    (rate, MULTIPLICATIONS.with(|m| m.get()))
}

/// Every scheduler type, with and without warmup, and the most multiplications a jump to any
/// update may cost it.
fn every_scheduler() -> Vec<(LrScheduler, u64)> {
    let warm = |s: LrScheduler| s.with_warmup(50, 0.001, WarmupMode::Linear).unwrap();
    let factor =
        FactorScheduler { factor: 0.9, stop_factor_lr: 1e-6, base_lr: 0.1, ..FactorScheduler::new(1) }
            .build()
            .unwrap();
    let multi =
        MultiFactorScheduler { factor: 0.5, base_lr: 0.1, ..MultiFactorScheduler::new(vec![10, 100, 1000]) }
            .build()
            .unwrap();
    let poly = PolyScheduler { base_lr: 0.1, pwr: 2.0, final_lr: 0.001, ..PolyScheduler::new(1000) }
        .build()
        .unwrap();
    let cosine =
        CosineScheduler { base_lr: 0.1, final_lr: 0.001, ..CosineScheduler::new(1000) }.build().unwrap();
    vec![
        // Factor 0.9 takes 111 decays from 0.1 to its floor 1e-6, then none.
        (factor.clone(), 111),
        (warm(factor), 111),
        (
            FactorScheduler { factor: 1.0, stop_factor_lr: 1e-8, base_lr: 0.1, ..FactorScheduler::new(7) }
                .build()
                .unwrap(),
            1,
        ),
        // A floor about 1.6e10 decays away: the decays are computed at once.
        (
            FactorScheduler {
                factor: 1.0 - 1e-9,
                stop_factor_lr: 1e-8,
                base_lr: 0.1,
                ..FactorScheduler::new(1)
            }
            .build()
            .unwrap(),
            super::decay::EXACT_DECAYS + 1,
        ),
        (multi.clone(), 3),
        (warm(multi), 3),
        (poly.clone(), 0),
        (warm(poly), 0),
        (cosine.clone(), 0),
        (warm(cosine), 0),
    ]
}

#[test]
fn a_jump_costs_the_decays_that_change_the_rate_not_the_updates_jumped() {
    for (scheduler, most) in every_scheduler() {
        for n in [1_000_000_000, 10_000_000_000, u64::MAX] {
            let mut s = scheduler.clone();
            let (_, cost) = counted(|| s.lr(n));
            assert!(cost <= most, "{scheduler:?} at {n}: {cost} multiplications, at most {most} expected");
            // At the floor, or past every step, a later jump costs nothing; short of a far floor
            // it costs the decays jumped (here a million) at most.
            let (_, again) = counted(|| s.lr(n.saturating_add(1_000_000)));
            let again_most = if most > 1000 { 1_000_000 } else { 1 };
            assert!(again <= again_most, "{scheduler:?}: {again} multiplications for the next jump");
        }
    }
}

#[test]
fn a_jump_gives_the_bits_of_walking_one_update_at_a_time() {
    for (scheduler, _) in every_scheduler() {
        let mut walked = scheduler.clone();
        for n in 0..=20_000u64 {
            let walked_rate = walked.lr(n);
            if n % 997 == 0 || n == 20_000 {
                let jumped_rate = scheduler.clone().lr(n);
                assert_eq!(jumped_rate.to_bits(), walked_rate.to_bits(), "{scheduler:?} at {n}");
            }
        }
    }
}
