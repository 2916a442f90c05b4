//! `adamant inspect` on a saved file prints what was saved.

use std::process::Command;

use adamant::{Param, Updater};
use serde_json::{json, Value};

fn saved_state(dir: &std::path::Path) -> std::path::PathBuf {
    let config = json!({"learning_rate": 0.01, "lr_scheduler": {"type": "factor", "step": 1, "factor": 0.5}, "multi_precision": true});
    let mut updater = Updater::new(adamant::create("adam", &config).unwrap());
    let mut w = vec![half::bf16::from_f32(0.5); 6];
    let g = vec![half::bf16::from_f32(0.25); 6];
    let (mut w2, g2) = (vec![1.0f64; 4], vec![f64::NAN, 1.0, 2.0, 3.0]);
    for _ in 0..3 {
        updater
            .update(&mut [Param::dense(2, &[2, 3], &mut w, &g), Param::dense(7, &[4], &mut w2, &g2)])
            .unwrap();
    }
    let path = dir.join("state.safetensors");
    updater.save(&path).unwrap();
    path
}

fn adamant(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_adamant")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn inspect_prints_what_was_saved() {
    let dir = std::env::temp_dir().join(format!("adamant-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = saved_state(&dir);
    let (ok, out, err) = adamant(&["inspect", "--json", path.to_str().unwrap()]);
    assert!(ok, "adamant inspect failed: {err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["optimizer"], "adam");
    assert_eq!(d["num_update"], 3);
    assert_eq!(d["update_counts"], json!({"2": 3, "7": 3}));
    assert_eq!(d["config"]["learning_rate"], 0.01);
    assert_eq!(d["scheduler"]["state"]["count"], 2, "factor decays at updates 2 and 3");
    assert_eq!(d["scheduler"]["schedule"]["base_lr"], 0.01, "the schedule as configured");
    assert_eq!(d["file"], path.display().to_string());
    assert_eq!(d["learning_rate_source"], "scheduler");
    assert!(d["learning_rate"].as_f64().unwrap() < 0.01, "decayed: {}", d["learning_rate"]);
    assert!(d["fixed_learning_rate"].is_number(), "the file's own learning_rate is shown too");
    let params = d["params"].as_array().unwrap();
    assert_eq!(params.len(), 2);
    assert_eq!((params[0]["index"].clone(), params[0]["dtype"].clone()), (json!(2), json!("bfloat16")));
    assert_eq!(params[0]["shape"], json!([2, 3]));
    assert_eq!(params[0]["arrays"]["weight32"]["dtype"], "float32");
    assert_eq!(params[1]["arrays"]["mean"]["non_finite"], 1, "the NaN gradient left one NaN in the mean");

    let (ok, text, _) = adamant(&["inspect", path.to_str().unwrap()]);
    assert!(ok);
    assert!(
        text.contains("optimizer:     adam") && text.contains("weight32") && text.contains("bfloat16"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inspect_of_a_damaged_file_is_one_clear_error() {
    let dir = std::env::temp_dir().join(format!("adamant-inspect-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.safetensors");
    std::fs::write(&path, b"not a state file").unwrap();
    let (ok, out, err) = adamant(&["inspect", path.to_str().unwrap()]);
    assert!(!ok && out.is_empty());
    assert!(err.starts_with("adamant: cannot load") && err.contains("state file"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // A weights file (safetensors without adamant's metadata) says what it probably is, and
    // "state file" is said once.
    let weights = dir.join("weights.safetensors");
    let data = [0u8; 8];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    std::fs::write(&weights, safetensors::serialize([("w", view)], None).unwrap()).unwrap();
    let (ok, _, err) = adamant(&["inspect", weights.to_str().unwrap()]);
    assert!(
        !ok && err.contains("a safetensors file without adamant's metadata (a model's weights?)"),
        "{err}"
    );
    assert_eq!(err.matches("state file").count(), 1, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
