//! `adamant train` as a user runs it.

use std::process::Command;

use serde_json::Value;

fn adamant(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_adamant")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The summary line of a `--json` run.
fn summary(out: &str) -> Value {
    let last = out.lines().last().expect("some output");
    serde_json::from_str::<Value>(last).unwrap()["summary"].clone()
}

#[test]
fn digits_train_to_high_accuracy_and_report_every_epoch() {
    let (ok, out, err) = adamant(&["train", "--epochs", "15", "--json"]);
    assert!(ok, "{err}");
    let records: Vec<Value> =
        out.lines().filter(|l| l.contains("\"epoch\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 30, "two models, 15 epochs");
    for key in ["epoch", "train_loss", "test_loss", "test_accuracy", "step_ms", "lr"] {
        assert!(records[0].get(key).is_some(), "no {key} in {}", records[0]);
    }
    let mlp =
        summary(&out)["models"].as_array().unwrap().iter().find(|m| m["model"] == "mlp").unwrap().clone();
    assert!(mlp["test_accuracy"].as_f64().unwrap() >= 0.95, "{mlp}");
}

#[test]
fn a_resumed_run_ends_bit_for_bit_like_an_uninterrupted_one() {
    for task in ["digits", "sparse"] {
        let dir = std::env::temp_dir().join(format!("adamant-resume-{task}-{}", std::process::id()));
        let d = dir.to_str().unwrap();
        let (ok, straight, err) =
            adamant(&["train", "--task", task, "--epochs", "3", "--seed", "5", "--json"]);
        assert!(ok, "{err}");
        let (ok, _, err) =
            adamant(&["train", "--task", task, "--epochs", "2", "--seed", "5", "--json", "--save-state", d]);
        assert!(ok, "{err}");
        let (ok, resumed, err) =
            adamant(&["train", "--task", task, "--epochs", "3", "--seed", "5", "--json", "--resume", d]);
        assert!(ok, "{err}");
        assert_eq!(summary(&resumed)["models"], summary(&straight)["models"], "{task}");
        // The resumed run kept saving into its folder: epoch 3 is there.
        let progress: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("progress.json")).unwrap()).unwrap();
        assert_eq!(progress["epoch"], 3, "{task}");
        let (ok, _, err) = adamant(&["train", "--task", task, "--epochs", "4", "--seed", "6", "--resume", d]);
        assert!(
            !ok && err.contains("options given differ from the saved run's (seed: saved 5, given 6)"),
            "{err}"
        );
        // One --set names only its own setting, not the rest of the configuration.
        let (ok, _, err) = adamant(&["train", "--epochs", "4", "--set", "wd=0.05", "--resume", d]);
        assert!(!ok && err.contains("(config.wd: saved not set, given 0.05)"), "{err}");
        // Without the flags, the saved settings continue the run.
        let (ok, _, err) = adamant(&["train", "--epochs", "4", "-q", "--resume", d]);
        assert!(ok, "{task}: {err}");
        let progress: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("progress.json")).unwrap()).unwrap();
        assert_eq!((progress["epoch"].clone(), progress["run"]["task"].clone()), (4.into(), task.into()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn sparse_models_learn_and_the_plot_is_written() {
    let plot = std::env::temp_dir().join(format!("adamant-plot-{}.svg", std::process::id()));
    let (ok, out, err) =
        adamant(&["train", "--task", "sparse", "--epochs", "2", "--json", "--plot", plot.to_str().unwrap()]);
    assert!(ok, "{err}");
    for model in summary(&out)["models"].as_array().unwrap() {
        assert!(model["train_loss"].as_f64().unwrap() < 0.6, "{model} (the initial loss is ln 2 = 0.69)");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg"));
    // Epoch ticks are whole numbers (2 epochs: 1 and 2, not 1.5).
    let texts: Vec<&str> = svg.split("</text>").filter_map(|t| t.rsplit('>').next()).map(str::trim).collect();
    assert!(
        texts.contains(&"1") && texts.contains(&"2") && !texts.iter().any(|t| *t == "1.5" || *t == "1.0"),
        "{texts:?}"
    );
    for entry in ["lazy train", "lazy test", "standard train", "standard test"] {
        assert_eq!(svg.matches(entry).count(), 1, "legend entry {entry:?} once");
    }
    std::fs::remove_file(&plot).unwrap();
}

/// A test file of `tests/data` (made by `make_libsvm.py` from scikit-learn's bundled data).
fn data(name: &str) -> String {
    format!("{}/tests/data/{name}.libsvm", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn real_libsvm_files_train_with_the_defaults_close_to_a_well_tuned_logistic_regression() {
    // The mean test accuracy of standardized, cross-validated logistic regression over 50
    // random 80/20 splits (scikit-learn 1.9.1); unscaled features, labels as the file has them.
    // adamant's side is a mean over 8 seeds, each its own split: with 30 to 36 test examples one
    // split alone moves by 0.03 an example.
    for (file, tuned) in [
        ("iris", 0.961),
        ("wine", 0.985),
        ("iris-versicolor-virginica-01", 0.939),
        ("wine-24", 0.990),
        ("wine-pm1", 0.992),
        ("iris-12", 0.996),
    ] {
        let mut accuracies = Vec::new();
        for seed in ["1", "2", "3", "4", "5", "6", "7", "8"] {
            let path = data(file);
            let args = [
                "train",
                "--task",
                "sparse",
                "--data",
                &path,
                "--seed",
                seed,
                "--set",
                "lazy_update=true",
                "--json",
            ];
            let (ok, out, err) = adamant(&args);
            assert!(ok, "{file}: {err}");
            let s = summary(&out);
            assert_eq!(s["data"], path.as_str(), "the summary names the file");
            accuracies.push(s["models"][0]["test_accuracy"].as_f64().unwrap());
        }
        let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        assert!(mean >= tuned - 0.03, "{file}: {accuracies:?}, a tuned logistic regression gets {tuned}");
    }
}

#[test]
fn the_header_says_which_label_is_positive_and_how_features_were_scaled() {
    let (ok, out, err) = adamant(&["train", "--task", "sparse", "--data", &data("wine-24"), "--epochs", "5"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "{}: 178 examples (143 train / 35 test), 13 features, 2 classes",
            data("wine-24")
        )),
        "{out}"
    );
    assert_eq!(lines[1], "labels: 2 is the negative class, 4 the positive");
    assert_eq!(
        lines[2],
        "features scaled on the training part: 13 standardized, 0 divided by their largest value"
    );
    let (ok, out, _) = adamant(&["train", "--task", "sparse", "--data", &data("iris"), "--epochs", "5"]);
    assert!(ok && out.lines().nth(1) == Some("labels: 3 classes, 1, 2, 3"), "{out}");
}

#[test]
fn float16_weights_without_master_weights_warn_once() {
    let warning = "without multi_precision";
    let (ok, _, err) = adamant(&["train", "--epochs", "1", "--dtype", "float16", "-q"]);
    assert!(ok && err.matches(warning).count() == 1, "{err}");
    let (ok, _, err) =
        adamant(&["train", "--epochs", "1", "--dtype", "float16", "--set", "multi_precision=true", "-q"]);
    assert!(ok && !err.contains(warning), "{err}");
    let (ok, _, err) = adamant(&["train", "--epochs", "1", "--dtype", "bfloat16", "-q"]);
    assert!(ok && !err.contains(warning), "{err}");
}

#[test]
fn bad_options_and_files_are_one_clear_error() {
    let bad = std::env::temp_dir().join(format!("adamant-bad-{}.libsvm", std::process::id()));
    std::fs::write(&bad, "+1 1:0.5 2:1\n-1 3:x\n").unwrap();
    let (ok, _, err) = adamant(&["train", "--task", "sparse", "--data", bad.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(err.trim(), format!("adamant: {}:2: expected a feature value, got \"x\"", bad.display()));
    std::fs::remove_file(&bad).unwrap();
    let (ok, _, err) = adamant(&["train", "--set", "momentum=0.9"]);
    assert!(!ok && err.contains("unknown hyper-parameter \"momentum\""), "{err}");
    let (ok, _, err) = adamant(&["train", "--optimizer", "sgd"]);
    assert!(!ok && err.contains("known optimizers: adam"), "{err}");
}

#[test]
fn a_run_that_diverges_stops_with_an_error_instead_of_reporting_nan() {
    let (ok, out, err) = adamant(&["train", "--set", "learning_rate=1e30", "--epochs", "3", "-q"]);
    assert!(!ok, "{out}");
    assert!(err.contains("model diverged in epoch 1 (training loss NaN)"), "{err}");
    assert!(err.contains("try a smaller learning rate"), "{err}");
    assert!(!out.contains("epoch   2/3") && !out.contains("test accuracy NaN"), "{out}");
}

#[test]
fn the_text_report_shows_the_rate_per_epoch_and_labels_its_figures() {
    let schedule = r#"{"type":"factor","step":20,"factor":0.5,"base_lr":0.01}"#;
    let (ok, out, err) =
        adamant(&["train", "--optimizer", "Adam", "--epochs", "2", "-q", "--lr-scheduler", schedule]);
    assert!(ok, "{err}");
    assert!(
        out.lines().next().unwrap().contains("; optimizer adam {"),
        "the name as the registry has it: {out}"
    );
    // 45 steps an epoch: the rate has halved twice by the end of epoch 1 (updates 21 and 41).
    let epoch1 = out.lines().find(|l| l.starts_with("epoch   1/2  softmax")).unwrap();
    assert!(epoch1.contains(" lr 2.500e-3 "), "{epoch1}");
    assert!(out.lines().last().unwrap().starts_with("total time: "), "{out}");
}

#[test]
fn figures_keep_their_digits_and_one_epoch_is_singular() {
    let (ok, out, err) = adamant(&["train", "--epochs", "1", "--json"]);
    assert!(ok, "{err}");
    let last = out.lines().last().unwrap();
    let record = out.lines().find(|l| l.contains("\"model\":\"mlp\"") && l.contains("\"epoch\"")).unwrap();
    let loss: Value = serde_json::from_str::<Value>(record).unwrap()["train_loss"].clone();
    // The summary writes the epoch record's float32 figure as the record does.
    assert!(last.contains(&format!("\"train_loss\":{loss}")), "{record}\n{last}");
    let (ok, out, _) = adamant(&["train", "--epochs", "1", "-q"]);
    assert!(ok && out.contains("after 1 epoch (final"), "{out}");
}
