//! `adamant bench --json`: one object per scenario with the fields the README and the issues
//! quote (the figures themselves are the bench's business, not a test's).

use std::process::Command;

use serde_json::Value;

#[test]
fn bench_json_names_each_rule_and_gives_the_spread_of_the_steps() {
    let out = Command::new(env!("CARGO_BIN_EXE_adamant"))
        .args(["bench", "--json", "-q", "--threads", "1", "--size", "0.01", "--seconds", "0.05"])
        .args(["--scenario", "dense-f32-16Mx256-adamw-torch,LAZY-f32-1M"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["scenario"].as_str().unwrap()).collect();
    assert_eq!(names, ["dense-f32-16Mx256-adamw-torch", "lazy-f32-1Mx64", "lazy-f32-1Mx64-same-rows"]);
    assert_eq!((rows[0]["optimizer"].as_str(), rows[0]["rule"].as_str()), (Some("adamw"), Some("torch")));
    assert_eq!((rows[1]["optimizer"].as_str(), rows[1]["rule"].as_str()), (Some("adam"), Some("mxnet")));
    for r in &rows {
        let (min, median, max) =
            (r["min_ms"].as_f64().unwrap(), r["median_ms"].as_f64().unwrap(), r["max_ms"].as_f64().unwrap());
        assert!(0.0 < min && min <= median && median <= max, "{r}");
        assert!(r["fraction_of_roofline"].as_f64().unwrap() > 0.0, "{r}");
        if cfg!(target_os = "linux") {
            // At least the scenario's own arrays (weights, gradients, state: 1% of 16M x 4 x
            // 4 bytes for the dense one), and huge pages reported, granted or not.
            assert!(r["peak_rss_mb"].as_f64().unwrap() > 2.0, "{r}");
            assert!(r["huge_pages_mb"].as_f64().unwrap() >= 0.0, "{r}");
        }
    }
}
