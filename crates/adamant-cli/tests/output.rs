//! Every subcommand ends quietly with status 0 when its reader closes stdout early (as
//! `| head -1` does), and names the path at fault when a file cannot be read.

use std::io::Read;
use std::process::{Command, Stdio};

/// Runs `adamant args`, reads one line of its stdout, closes the pipe, and returns the exit
/// status and stderr.
fn closed_after_one_line(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adamant"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {}
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_closed_stdout_ends_every_subcommand_quietly() {
    let dir = std::env::temp_dir().join(format!("adamant-pipe-{}", std::process::id()));
    let run = dir.join("run");
    let saved = Command::new(env!("CARGO_BIN_EXE_adamant"))
        .args(["train", "--epochs", "1", "-q", "--save-state", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(saved.status.success());
    let state = run.join("mlp.optimizer.safetensors");
    for args in [
        vec!["inspect", state.to_str().unwrap(), "--json"],
        vec!["inspect", state.to_str().unwrap()],
        vec!["train", "--epochs", "3"],
        vec!["train", "--epochs", "2", "--json"],
        vec!["bench", "--list"],
    ] {
        let (status, stderr) = closed_after_one_line(&args);
        assert_eq!(status, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_given_as_a_state_file_is_named_with_the_state_files_in_it() {
    let dir = std::env::temp_dir().join(format!("adamant-inspect-dir-{}", std::process::id()));
    let inspect = |dir: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_adamant"))
            .args(["inspect", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(
        inspect(&dir),
        format!("adamant: {} is a folder, and holds no state file (*.optimizer.safetensors)", dir.display())
    );
    let run = dir.join("run");
    let saved = Command::new(env!("CARGO_BIN_EXE_adamant"))
        .args(["train", "--epochs", "1", "-q", "--save-state", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(saved.status.success());
    let files =
        ["mlp", "softmax"].map(|m| run.join(format!("{m}.optimizer.safetensors")).display().to_string());
    assert_eq!(
        inspect(&run),
        format!("adamant: {} is a folder; give one of its state files: {}", run.display(), files.join(", "))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_stderr_does_not_turn_an_error_or_a_warning_into_a_panic() {
    for (args, status) in [
        (vec!["train", "--optimizer", "sgd"], 1),
        (vec!["train", "--dtype", "float16", "--epochs", "1", "-q", "--json"], 0),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_adamant"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                drop(child.stderr.take()); // the reader of stderr goes away at once
                child.wait()
            })
            .unwrap();
        assert_eq!(out.code(), Some(status), "{args:?}");
    }
}
