//! Replays the golden vectors recorded from MXNet 1.9.1 and PyTorch (see
//! `tests/golden/README.md` for their provenance and format).
//!
//! Every case of every `.json` / `.json.gz` file is run: the project's copies of
//! `tests/golden/mxnet` and `tests/golden/torch`, or `$ADAMANT_GOLDEN_DIR` when set. It prints one
//! line per file, `golden FILE: N passed, F failed, P pending`, and fails if any case fails. A
//! family listed in `PENDING` belongs to a later piece of work: its cases are counted as
//! pending, never as passed.

mod replay;

use std::process::ExitCode;

/// Families whose optimizers are not implemented yet. Each is removed by the work that adds it.
const PENDING: &[&str] = &[];

fn main() -> ExitCode {
    let (mut passed, mut failed, mut pending) = (0, 0, 0);
    for dir in replay::directories() {
        let files = match replay::files(&dir) {
            Ok(files) if !files.is_empty() => files,
            Ok(_) => {
                eprintln!("golden: no .json or .json.gz files in {}", dir.display());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("golden: {e}");
                return ExitCode::FAILURE;
            }
        };
        for path in &files {
            let file = match replay::read(path) {
                Ok(file) => file,
                Err(e) => {
                    println!("golden {}: cannot be read: {e}", path.display());
                    failed += 1;
                    continue;
                }
            };
            let (mut p, mut f, mut n) = (0, 0, 0);
            for case in &file.cases {
                if PENDING.contains(&file.family.as_str()) {
                    n += 1;
                    continue;
                }
                match replay::run(case, &file.tolerance, &|_| {}) {
                    Ok(()) => p += 1,
                    Err(why) => {
                        f += 1;
                        println!("  FAILED {}: {why}", case["id"].as_str().unwrap_or("(no id)"));
                    }
                }
            }
            if file.cases.is_empty() {
                println!("  FAILED {}: no cases", file.name);
                f += 1;
            }
            println!("golden {}: {p} passed, {f} failed, {n} pending", file.name);
            (passed, failed, pending) = (passed + p, failed + f, pending + n);
        }
    }
    println!("golden: {passed} passed, {failed} failed, {pending} pending");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
