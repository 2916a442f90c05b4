//! The golden harness can fail: a wrong rule fails PyTorch's float64 cases within their own
//! tolerance, and one ulp off fails an exact case.

mod replay;

use serde_json::{json, Value};

fn all_float64(case: &Value) -> bool {
    case["params"].as_array().is_some_and(|ps| ps.iter().all(|p| p["dtype"] == "float64"))
}

#[test]
fn mxnets_rule_fails_the_float64_cases_of_torch_adam() {
    let file = replay::project_file("torch", "torch_adam");
    // MXNet's rule has no amsgrad and no maximize: the cases without them can run under it.
    let runnable = |c: &&Value| {
        all_float64(c) && c["optimizer"]["amsgrad"] != true && c["optimizer"]["maximize"] != true
    };
    let cases: Vec<&Value> = file.cases.iter().filter(runnable).collect();
    assert!(cases.len() >= 4, "only {} float64 cases MXNet's rule can run", cases.len());
    for case in cases {
        let id = case["id"].as_str().unwrap_or("(no id)");
        replay::run(case, &file.tolerance, &|_| {}).unwrap_or_else(|e| panic!("{id} fails as recorded: {e}"));
        let as_mxnet = |config: &mut Value| {
            let map = config.as_object_mut().unwrap();
            for key in ["amsgrad", "maximize"] {
                map.remove(key);
            }
            map.insert("rule".into(), json!("mxnet"));
        };
        let err = replay::run(case, &file.tolerance, &as_mxnet).expect_err(id);
        // The weights must be what differs, not a name or a refusal.
        assert!(err.contains("weight: first difference"), "{id}: {err}");
    }
}

#[test]
fn one_ulp_off_fails_an_exact_case() {
    let file = replay::project_file("mxnet", "dense_float32");
    let case = file.cases.iter().find(|c| c["exact"] == true).expect("an exact case");
    replay::run(case, &file.tolerance, &|_| {}).unwrap();
    let expected = &case["steps"][0]["expect"]["weights"][0]["weight"];
    let at = expected
        .as_array()
        .unwrap()
        .iter()
        .position(|b| {
            let x = f32::from_bits(b.as_u64().unwrap() as u32);
            x.is_finite() && x != 0.0
        })
        .expect("a finite non-zero weight");
    let mut changed = case.clone();
    let bits = &mut changed["steps"][0]["expect"]["weights"][0]["weight"][at];
    *bits = json!(bits.as_u64().unwrap() + 1);
    let err = replay::run(&changed, &file.tolerance, &|_| {}).expect_err("one ulp off passed");
    assert!(err.contains(&format!("first difference at element {at}")), "{err}");
}
