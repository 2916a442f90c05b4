//! Settings a training loop changes after the optimizer is built or resumed: the scheduler, the
//! weight decay and the multipliers. State and counters stay; a refused change changes nothing;
//! a saved state builds the reconfigured optimizer.

use adamant::{CosineScheduler, Error, FactorScheduler, Multipliers, Param, Updater};
use serde_json::json;

fn step(updater: &mut Updater, w: &mut [f32]) {
    let g = vec![0.5f32; w.len()];
    updater.update(&mut [Param::dense(0, &[w.len()], w, &g)]).unwrap();
}

#[test]
fn changed_settings_take_effect_at_the_next_step_and_survive_a_resume() {
    let mut updater = Updater::new(adamant::create("adam", &json!({"learning_rate": 0.1})).unwrap());
    let mut w = vec![1.0f32; 3];
    step(&mut updater, &mut w);
    let o = updater.optimizer_mut();
    o.set_wd(0.25).unwrap();
    o.set_lr_mult(Multipliers { by_index: [(0, 0.5)].into(), ..Multipliers::default() }).unwrap();
    let factor = FactorScheduler { factor: 0.5, base_lr: 0.2, ..FactorScheduler::new(1) };
    o.set_lr_scheduler(Some(factor.build().unwrap())).unwrap();
    // At num_update 1 the new Factor scheduler (step 1) has not decayed yet: 0.2.
    assert_eq!(o.learning_rate(), 0.2);
    assert_eq!((o.base().config().wd, o.num_update()), (0.25, 1));

    let mut file = Vec::new();
    updater.save_to(&mut file).unwrap();
    let mut resumed = Updater::load_from(&file[..], &[]).unwrap();
    assert_eq!(resumed.optimizer().config_json(), updater.optimizer().config_json());
    let mut w2 = w.clone();
    step(&mut updater, &mut w);
    step(&mut resumed, &mut w2);
    assert_eq!(w, w2, "the resumed optimizer has the new settings");

    // Two steps without the change end elsewhere.
    let mut unchanged = Updater::new(adamant::create("adam", &json!({"learning_rate": 0.1})).unwrap());
    let mut w3 = vec![1.0f32; 3];
    step(&mut unchanged, &mut w3);
    step(&mut unchanged, &mut w3);
    assert_ne!(w3, w, "the settings changed the second step");
}

#[test]
fn refused_settings_change_nothing() {
    let mut updater = Updater::new(adamant::create("adam", &json!({"wd": 0.1})).unwrap());
    let o = updater.optimizer_mut();
    let before = o.config_json();
    assert!(matches!(o.set_wd(-1.0), Err(Error::InvalidHyperParameter { name: "wd", .. })));
    assert!(matches!(o.set_wd(1e39), Err(Error::InvalidHyperParameter { name: "wd", .. })));
    let bad = Multipliers { by_name: [("fc_bias".to_string(), f64::NAN)].into(), ..Multipliers::default() };
    assert!(matches!(o.set_wd_mult(bad), Err(Error::InvalidMultiplier { kind: "wd_mult", .. })));
    assert_eq!(o.config_json(), before);
}

#[test]
fn the_rate_under_a_scheduler_is_changed_through_the_scheduler() {
    let cosine = CosineScheduler { base_lr: 0.1, ..CosineScheduler::new(100) }.build().unwrap();
    let mut adam = adamant::create("adam", &json!({"lr_scheduler": cosine.to_json()})).unwrap();
    let err = adam.set_learning_rate(0.5).unwrap_err();
    assert_eq!(err, Error::LearningRateOwnedByScheduler);
    assert!(err.to_string().contains("set_lr_scheduler"), "{err}");
    adam.set_lr_scheduler(None).unwrap();
    assert_eq!(adam.learning_rate(), 0.1, "without a scheduler the rate stays where it was");
    adam.set_learning_rate(0.5).unwrap();
    assert_eq!(adam.learning_rate(), 0.5);
}
