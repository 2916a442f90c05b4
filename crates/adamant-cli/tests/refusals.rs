//! Input that once made `adamant` abort, waste a run or report nonsense: each is refused before
//! any work, with a message that says what to do, status 1 (2 for a flag clap refuses), nothing
//! trained (no epoch printed) and nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Out {
    status: i32,
    stdout: String,
    stderr: String,
}

fn adamant(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_adamant")).args(args).output().unwrap();
    Out {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adamant-refusals-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The files under `dir`, with their sizes.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
        .collect();
    files.sort();
    files
}

/// `args` is refused with `status` and a one-line message that `contains` what is expected,
/// before anything was trained.
#[track_caller]
fn refused(args: &[&str], status: i32, contains: &str) -> String {
    let out = adamant(args);
    assert_eq!(out.status, status, "{args:?}: {}", out.stderr);
    assert!(out.stderr.contains(contains), "{args:?}: {}", out.stderr);
    assert!(!out.stdout.contains("epoch"), "{args:?} trained before refusing: {}", out.stdout);
    out.stderr
}

#[test]
fn hashed_feature_ids_train_in_memory_proportional_to_the_features_seen() {
    let dir = scratch("hashed");
    let file = dir.join("hashed.libsvm");
    let lines: String = (0..40).map(|i| format!("{} 3000000000:1 {}:0.5\n", i % 2, 7 + i % 3)).collect();
    std::fs::write(&file, lines).unwrap();
    let out =
        adamant(&["train", "--task", "sparse", "--data", file.to_str().unwrap(), "--epochs", "2", "-q"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stdout.contains("4 features, 2 classes"), "{}", out.stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bench_too_large_for_memory_is_refused_before_it_allocates() {
    let err = refused(&["bench", "--size", "1000"], 1, "scenario dense-f32-64Mx1 at --size 1000.0 needs");
    assert!(
        err.contains("GiB of memory and this machine has")
            && err.trim_end().ends_with("give a smaller --size"),
        "{err}"
    );
    refused(&["bench", "--size", "1e300"], 1, "needs more memory than 64 bits can count");
}

#[test]
fn a_file_too_small_to_hold_out_a_test_part_is_refused() {
    let dir = scratch("small");
    let file = dir.join("two.libsvm");
    std::fs::write(&file, "+1 1:1\n-1 2:1\n").unwrap();
    refused(
        &["train", "--task", "sparse", "--data", file.to_str().unwrap()],
        1,
        "holds 2 examples; at least 10 are needed to hold out a fifth for testing",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lazy_update_given_with_the_sparse_task_trains_that_model_alone() {
    for (lazy, model) in [("false", "standard"), ("true", "lazy")] {
        let out = adamant(&[
            "train",
            "--task",
            "sparse",
            "--epochs",
            "1",
            "--set",
            &format!("lazy_update={lazy}"),
            "--json",
        ]);
        assert_eq!(out.status, 0, "{}", out.stderr);
        let models: Vec<&str> = out.stdout.lines().filter(|l| l.contains("\"epoch\"")).collect();
        assert_eq!(models.len(), 1, "{}", out.stdout);
        assert!(models[0].contains(&format!("\"model\":\"{model}\"")), "{}", models[0]);
    }
}

#[test]
fn threads_are_checked_the_same_way_everywhere() {
    for command in ["train", "bench"] {
        for threads in ["0", "1000"] {
            refused(&[command, "--threads", threads], 2, "CPUs; give 1 to");
        }
    }
}

#[test]
fn a_plot_that_cannot_be_written_is_refused_before_training() {
    let dir = scratch("plot");
    let missing = dir.join("missing/loss.svg");
    refused(&["train", "--plot", missing.to_str().unwrap()], 1, "does not exist");
    refused(&["train", "--plot", dir.join("loss.png").to_str().unwrap()], 1, "only .svg is supported");
    refused(&["train", "--plot", dir.to_str().unwrap()], 1, "only .svg");
    let file = dir.join("afile");
    std::fs::write(&file, "").unwrap();
    let under_a_file = file.join("loss.svg");
    let shown = under_a_file.display().to_string();
    refused(
        &["train", "--plot", &shown],
        1,
        &format!("--plot {shown}: {} is a file, not a folder", file.display()),
    );
    assert_eq!(listing(&dir), [("afile".to_string(), 0)]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_state_into_another_runs_folder_or_onto_a_file_is_refused_before_training() {
    let dir = scratch("save");
    let run = dir.join("run");
    let saved = adamant(&["train", "--epochs", "1", "-q", "--save-state", run.to_str().unwrap()]);
    assert_eq!(saved.status, 0, "{}", saved.stderr);
    let before = listing(&run);
    let err = refused(
        &["train", "--task", "sparse", "--epochs", "1", "--save-state", run.to_str().unwrap()],
        1,
        "the folder holds another run (saved at epoch 1)",
    );
    assert!(err.contains(&format!("--resume {}", run.display())), "{err}");
    assert_eq!(listing(&run), before, "the other run's files changed");
    let file = dir.join("a-file");
    std::fs::write(&file, "keep me").unwrap();
    refused(
        &["train", "--epochs", "1", "--save-state", file.to_str().unwrap()],
        1,
        "this is a file, not a folder",
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    refused(
        &["train", "--epochs", "1", "--save-state", other.to_str().unwrap()],
        1,
        "the folder is not empty",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_state_file_of_another_model_in_a_resume_folder_is_named_before_training() {
    let dir = scratch("resume");
    let run = dir.join("run");
    let saved = adamant(&["train", "--epochs", "1", "-q", "--save-state", run.to_str().unwrap()]);
    assert_eq!(saved.status, 0, "{}", saved.stderr);
    std::fs::copy(run.join("softmax.optimizer.safetensors"), run.join("mlp.optimizer.safetensors")).unwrap();
    let before = listing(&run);
    let err = refused(
        &["train", "--epochs", "3", "--resume", run.to_str().unwrap(), "--save-state", run.to_str().unwrap()],
        1,
        &format!("cannot resume model mlp from {}", run.join("mlp.optimizer.safetensors").display()),
    );
    assert!(err.contains("the file has float32 [64, 10], the weight is float32 [64, 64]"), "{err}");
    assert_eq!(listing(&run), before, "the saved run changed");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_progress_file_is_named_before_training() {
    let dir = scratch("progress");
    let run = dir.join("run");
    let saved = adamant(&["train", "--epochs", "1", "-q", "--save-state", run.to_str().unwrap()]);
    assert_eq!(saved.status, 0, "{}", saved.stderr);
    let path = run.join("progress.json");
    let good: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let resume = ["train", "--epochs", "3", "-q", "--resume", run.to_str().unwrap()];
    // An epoch that is negative, not an integer, or disagrees with the records, and records that
    // are out of order.
    for (key, value) in [
        ("epoch", serde_json::json!(-1)),
        ("epoch", serde_json::json!(1.5)),
        ("epoch", serde_json::json!(0)),
        ("epoch", serde_json::json!(2)),
        ("epoch", serde_json::json!(u64::MAX)),
        ("records", serde_json::json!([good["records"][1], good["records"][0], good["records"][0]])),
    ] {
        let mut damaged = good.clone();
        damaged[key] = value.clone();
        std::fs::write(&path, damaged.to_string()).unwrap();
        let err = refused(&resume, 1, &format!("{} is damaged", path.display()));
        assert!(!err.contains("panicked"), "{key} = {value}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn optimizer_and_scheduler_errors_name_the_flags_that_gave_them() {
    refused(
        &["train", "--optimizer", "adamw", "--set", "beta1=2"],
        1,
        "--optimizer adamw --set beta1=2: hyper-parameter beta1 = 2.0: must be in [0, 1)",
    );
    refused(&["train", "--optimizer", "sgd"], 1, "--optimizer sgd: unknown optimizer \"sgd\"");
    refused(&["train", "--set", "rule=torch", "--set", "clip_gradient=1"], 1, "--set clip_gradient=1: ");
    refused(
        &["train", "--lr-scheduler", r#"{"type":"factor"}"#],
        1,
        r#"--lr-scheduler {"type":"factor"}: factor scheduler needs "step""#,
    );
}

#[test]
fn an_empty_scenario_pattern_is_refused_rather_than_matching_everything() {
    for pattern in ["", "lazy,", " "] {
        refused(&["bench", "--scenario", pattern], 1, "an empty pattern matches every scenario");
    }
}

#[test]
fn a_data_file_that_is_missing_or_a_folder_is_named_with_its_flag() {
    let dir = scratch("data");
    let missing = dir.join("missing.libsvm");
    refused(
        &["train", "--task", "sparse", "--data", missing.to_str().unwrap()],
        1,
        &format!("--data {}: No such file", missing.display()),
    );
    refused(
        &["train", "--task", "sparse", "--data", dir.to_str().unwrap()],
        1,
        &format!("--data {}: not a regular file", dir.display()),
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scenario_names_match_whatever_their_case_and_an_unknown_one_lists_them() {
    let out = adamant(&["bench", "--scenario", "LAZY-F32-1M", "--list"]);
    assert_eq!((out.status, out.stdout.trim()), (0, "lazy-f32-1Mx64\nlazy-f32-1Mx64-same-rows"));
    let err =
        refused(&["bench", "--scenario", "nope"], 1, "no scenario matches [\"nope\"]; the scenarios are: ");
    assert!(err.contains("dense-f32-16Mx256-adamw-torch"), "{err}");
}
