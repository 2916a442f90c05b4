//! A process killed in the middle of saving leaves the old state file or the new one, never a
//! torn one: a child saves two states alternately, forever; the parent kills it 200 times at
//! random moments and loads whatever file is there.

use std::process::{Command, Stdio};
use std::time::Duration;

use adamant::{Param, Updater};
use serde_json::json;

const PATH_VARIABLE: &str = "ADAMANT_CRASH_TEST_PATH";

/// The state after `steps` updates of one 300,000-element parameter (a file of about 2.4 MB,
/// long enough to write that kills land inside writes).
fn state_after(steps: usize) -> Updater {
    let mut updater = Updater::new(adamant::create("adam", &json!({})).unwrap());
    let n = 300_000;
    let (mut w, g): (Vec<f32>, Vec<f32>) = ((0..n).map(|i| i as f32 * 1e-6).collect(), vec![0.25; n]);
    for _ in 0..steps {
        updater.update(&mut [Param::dense(0, &[n], &mut w, &g)]).unwrap();
    }
    updater
}

/// Mean and var bits of parameter 0.
fn moments(updater: &Updater) -> (Vec<u32>, Vec<u32>) {
    let s = updater.state(0).expect("a state");
    let bits = |d: adamant::DataRef<'_>| match d {
        adamant::DataRef::F32(d) => d.iter().map(|x| x.to_bits()).collect(),
        _ => unreachable!(),
    };
    (bits(s.array("mean").unwrap()), bits(s.array("var").unwrap()))
}

#[test]
#[ignore = "the child process of kills_during_saves_leave_the_old_or_the_new_file"]
fn child_saves_forever() {
    let path = std::env::var(PATH_VARIABLE).expect("run by the crash test");
    let (a, b) = (state_after(1), state_after(2));
    loop {
        a.save(&path).unwrap();
        b.save(&path).unwrap();
    }
}

#[test]
fn kills_during_saves_leave_the_old_or_the_new_file() {
    let dir = std::env::temp_dir().join(format!("adamant-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.safetensors");
    let (a, b) = (moments(&state_after(1)), moments(&state_after(2)));
    let exe = std::env::current_exe().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let (mut loaded, mut a_seen, mut b_seen) = (0, 0, 0);
    for kill in 0..200 {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "child_saves_forever", "--test-threads", "1"])
            .env(PATH_VARIABLE, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(20_000 + seed % 60_000));
        child.kill().unwrap();
        child.wait().unwrap();
        if !path.exists() {
            continue;
        }
        let updater =
            Updater::load(&path, &[]).unwrap_or_else(|e| panic!("kill {kill}: the file does not load: {e}"));
        let found = moments(&updater);
        let num_update = updater.optimizer().base().num_update();
        match num_update {
            1 => a_seen += usize::from(found == a),
            2 => b_seen += usize::from(found == b),
            n => panic!("kill {kill}: num_update {n}"),
        }
        assert!(found == a || found == b, "kill {kill}: the arrays are neither state");
        loaded += 1;
    }
    let interrupted = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "state.safetensors")
        .count();
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("{loaded} files loaded after 200 kills ({a_seen} old, {b_seen} new); {interrupted} saves were cut off");
    assert!(loaded >= 150, "too few kills found a file ({loaded})");
    assert!(a_seen > 0 && b_seen > 0, "both states should have been caught");
    assert!(interrupted > 0, "no kill landed inside a save, so the test proved nothing");
}
