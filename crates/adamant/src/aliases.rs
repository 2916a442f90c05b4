//! Other libraries' names for the hyper-parameters (PyTorch's, Keras', optax's, and a few
//! more), so that an unknown name can say which one was meant. String distance cannot find
//! these: `lr` is eleven edits from `learning_rate`.

/// `(name elsewhere, where it comes from, adamant's name or names)`.
const ALIASES: &[(&str, &str, &[&str])] = &[
    ("lr", "PyTorch", &["learning_rate"]),
    ("alpha", "Chainer", &["learning_rate"]),
    ("step_size", "", &["learning_rate"]),
    ("weight_decay", "PyTorch", &["wd"]),
    ("weight_decay_rate", "TensorFlow", &["wd"]),
    ("l2", "", &["wd"]),
    ("betas", "PyTorch; a pair there", &["beta1", "beta2"]),
    ("beta_1", "Keras", &["beta1"]),
    ("beta_2", "Keras", &["beta2"]),
    ("b1", "optax", &["beta1"]),
    ("b2", "optax", &["beta2"]),
    ("momentum", "Adam's first moment decay", &["beta1"]),
    ("eps", "PyTorch and optax", &["epsilon"]),
    ("clipvalue", "Keras; adamant clips each element", &["clip_gradient"]),
    ("clip_value", "adamant clips each element", &["clip_gradient"]),
    ("clipnorm", "Keras clips the norm; adamant clips each element", &["clip_gradient"]),
    ("max_grad_norm", "norm clipping; adamant clips each element", &["clip_gradient"]),
    ("loss_scale", "give 1 / loss_scale", &["rescale_grad"]),
    ("grad_scale", "", &["rescale_grad"]),
    ("scheduler", "", &["lr_scheduler"]),
    ("lr_schedule", "", &["lr_scheduler"]),
    ("learning_rate_schedule", "", &["lr_scheduler"]),
    ("fused", "PyTorch", &["use_fused_step"]),
    ("foreach", "PyTorch", &["use_fused_step"]),
    ("bias_correction", "", &["correct_bias"]),
    ("decoupled_weight_decay", "PyTorch; that is AdamW: create(\"adamw\")", &["wd"]),
    ("lazy", "", &["lazy_update"]),
    ("sparse", "", &["lazy_update"]),
    ("master_weights", "", &["multi_precision"]),
    ("mixed_precision", "", &["multi_precision"]),
    // Schedulers: PyTorch's lr_scheduler arguments.
    ("t_max", "PyTorch's CosineAnnealingLR", &["max_update"]),
    ("total_iters", "PyTorch's PolynomialLR", &["max_update"]),
    ("eta_min", "PyTorch", &["final_lr"]),
    ("step_size", "PyTorch's StepLR", &["step"]),
    ("milestones", "PyTorch's MultiStepLR", &["step"]),
    ("gamma", "PyTorch", &["factor"]),
    ("power", "PyTorch's PolynomialLR", &["pwr"]),
];

/// Other libraries' names of the scheduler types: `(name elsewhere, adamant's type)`.
const SCHEDULER_TYPES: &[(&str, &str)] = &[
    ("step", "factor"),
    ("steplr", "factor"),
    ("exponential", "factor"),
    ("exponentiallr", "factor"),
    ("multistep", "multifactor"),
    ("multisteplr", "multifactor"),
    ("multi_factor", "multifactor"),
    ("cosineannealing", "cosine"),
    ("cosineannealinglr", "cosine"),
    ("cosine_annealing", "cosine"),
    ("polynomial", "poly"),
    ("polynomiallr", "poly"),
];

/// A hint for the unknown scheduler type `name`: `; did you mean "cosine"?`, or nothing.
pub(crate) fn scheduler_type_hint(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    SCHEDULER_TYPES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map_or_else(String::new, |(_, ours)| format!("; did you mean {ours:?}?"))
}

/// A hint for the unknown name `name` among `known` names: `did you mean ...?`, or nothing.
pub(crate) fn hint(name: &str, known: &[&str]) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return format!("; did you mean {k:?}? (names are lowercase)");
    }
    // An alias may mean different things to different owners (`step_size`): the first whose
    // names the owner has.
    let found =
        ALIASES.iter().find(|(alias, _, names)| *alias == lower && names.iter().all(|n| known.contains(n)));
    let Some((_, from, names)) = found else {
        return String::new();
    };
    let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let from = if from.is_empty() { String::new() } else { format!(" ({from})") };
    format!("; did you mean {}?{from}", names.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADAM: &[&str] = &[
        "learning_rate",
        "lr_scheduler",
        "rescale_grad",
        "wd",
        "clip_gradient",
        "multi_precision",
        "beta1",
        "beta2",
        "epsilon",
        "lazy_update",
        "use_fused_step",
    ];

    #[test]
    fn every_alias_names_its_counterpart() {
        let cases = [
            ("lr", "; did you mean \"learning_rate\"? (PyTorch)"),
            ("LR", "; did you mean \"learning_rate\"? (PyTorch)"),
            ("alpha", "; did you mean \"learning_rate\"? (Chainer)"),
            ("step_size", "; did you mean \"learning_rate\"?"),
            ("weight_decay", "; did you mean \"wd\"? (PyTorch)"),
            ("weight_decay_rate", "; did you mean \"wd\"? (TensorFlow)"),
            ("l2", "; did you mean \"wd\"?"),
            ("betas", "; did you mean \"beta1\" and \"beta2\"? (PyTorch; a pair there)"),
            ("beta_1", "; did you mean \"beta1\"? (Keras)"),
            ("beta_2", "; did you mean \"beta2\"? (Keras)"),
            ("b1", "; did you mean \"beta1\"? (optax)"),
            ("b2", "; did you mean \"beta2\"? (optax)"),
            ("momentum", "; did you mean \"beta1\"? (Adam's first moment decay)"),
            ("eps", "; did you mean \"epsilon\"? (PyTorch and optax)"),
            ("clipvalue", "; did you mean \"clip_gradient\"? (Keras; adamant clips each element)"),
            ("clip_value", "; did you mean \"clip_gradient\"? (adamant clips each element)"),
            (
                "clipnorm",
                "; did you mean \"clip_gradient\"? (Keras clips the norm; adamant clips each element)",
            ),
            (
                "max_grad_norm",
                "; did you mean \"clip_gradient\"? (norm clipping; adamant clips each element)",
            ),
            ("loss_scale", "; did you mean \"rescale_grad\"? (give 1 / loss_scale)"),
            ("grad_scale", "; did you mean \"rescale_grad\"?"),
            ("scheduler", "; did you mean \"lr_scheduler\"?"),
            ("lr_schedule", "; did you mean \"lr_scheduler\"?"),
            ("learning_rate_schedule", "; did you mean \"lr_scheduler\"?"),
            ("fused", "; did you mean \"use_fused_step\"? (PyTorch)"),
            ("foreach", "; did you mean \"use_fused_step\"? (PyTorch)"),
            ("decoupled_weight_decay", "; did you mean \"wd\"? (PyTorch; that is AdamW: create(\"adamw\"))"),
            ("lazy", "; did you mean \"lazy_update\"?"),
            ("sparse", "; did you mean \"lazy_update\"?"),
            ("master_weights", "; did you mean \"multi_precision\"?"),
            ("mixed_precision", "; did you mean \"multi_precision\"?"),
            ("Beta1", "; did you mean \"beta1\"? (names are lowercase)"),
        ];
        for (alias, want) in cases {
            assert_eq!(hint(alias, ADAM), want, "{alias}");
        }
        // Every alias is tried, here or (correct_bias, which Adam lacks) below.
        for (alias, _, _) in ALIASES {
            let scheduler = ["t_max", "total_iters", "eta_min", "milestones", "gamma", "power"];
            let tried = cases.iter().any(|(a, _)| a == alias)
                || *alias == "bias_correction"
                || scheduler.contains(alias);
            assert!(tried, "{alias} is not tested");
        }
    }

    #[test]
    fn pytorchs_scheduler_names_point_to_mxnets() {
        let cosine = ["type", "base_lr", "max_update", "final_lr"];
        assert_eq!(hint("T_max", &cosine), "; did you mean \"max_update\"? (PyTorch's CosineAnnealingLR)");
        assert_eq!(hint("eta_min", &cosine), "; did you mean \"final_lr\"? (PyTorch)");
        let factor = ["type", "base_lr", "step", "factor", "stop_factor_lr"];
        assert_eq!(hint("step_size", &factor), "; did you mean \"step\"? (PyTorch's StepLR)");
        assert_eq!(hint("gamma", &factor), "; did you mean \"factor\"? (PyTorch)");
        assert_eq!(hint("milestones", &factor), "; did you mean \"step\"? (PyTorch's MultiStepLR)");
        assert_eq!(
            hint("total_iters", &["max_update"]),
            "; did you mean \"max_update\"? (PyTorch's PolynomialLR)"
        );
        assert_eq!(hint("power", &["pwr"]), "; did you mean \"pwr\"? (PyTorch's PolynomialLR)");
        for (theirs, ours) in SCHEDULER_TYPES {
            assert_eq!(scheduler_type_hint(theirs), format!("; did you mean {ours:?}?"));
        }
        assert_eq!(scheduler_type_hint("StepLR"), "; did you mean \"factor\"?");
        assert_eq!(scheduler_type_hint("linear"), "");
    }

    #[test]
    fn an_alias_whose_counterpart_the_owner_lacks_gives_no_hint() {
        assert_eq!(hint("bias_correction", ADAM), "", "Adam has no correct_bias");
        assert_eq!(hint("gamma", ADAM), "");
        assert_eq!(hint("bias_correction", &["correct_bias"]), "; did you mean \"correct_bias\"?");
    }
}
