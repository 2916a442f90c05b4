//! Replays the golden vectors recorded from MXNet 1.9.1 (see `tests/golden/README.md` for
//! their provenance and format) and compares bit patterns.
//!
//! Every case of every `.json` / `.json.gz` file in the directory is run: the project's copy
//! (`tests/golden/mxnet`), or `$ADAMANT_GOLDEN_DIR` when set. It prints one line per file,
//! `golden FILE: N passed, F failed, P pending`, and fails if any case fails. A family listed
//! in `PENDING` belongs to a later piece of work: its cases are counted as pending, never as
//! passed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use adamant::{
    Buffer, DataRef, Grad, LrScheduler, Param, RowSparseRef, State, TensorMut, TensorRef, Updater,
};
use half::{bf16, f16};
use serde_json::Value;

/// Families whose features are not implemented yet. Each is removed by the work that adds it;
/// none is left.
const PENDING: &[&str] = &[];

fn main() -> ExitCode {
    let dir = std::env::var_os("ADAMANT_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mxnet"));
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_golden(p)).collect(),
        Err(e) => {
            eprintln!("golden: cannot read {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    files.sort();
    if files.is_empty() {
        eprintln!("golden: no .json or .json.gz files in {}", dir.display());
        return ExitCode::FAILURE;
    }
    let (mut passed, mut failed, mut pending) = (0, 0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let file = match read_json(path) {
            Ok(file) => file,
            Err(e) => {
                println!("golden {name}: cannot be read: {e}");
                failed += 1;
                continue;
            }
        };
        let family = file["family"].as_str().unwrap_or_default();
        let cases = file["cases"].as_array().map(Vec::as_slice).unwrap_or_default();
        let (mut p, mut f, mut n) = (0, 0, 0);
        for case in cases {
            if PENDING.contains(&family) {
                n += 1;
                continue;
            }
            match run_case(case) {
                Ok(()) => p += 1,
                Err(why) => {
                    f += 1;
                    println!("  FAILED {}: {why}", case["id"].as_str().unwrap_or("(no id)"));
                }
            }
        }
        if cases.is_empty() {
            println!("  FAILED {name}: no cases");
            f += 1;
        }
        println!("golden {name}: {p} passed, {f} failed, {n} pending");
        (passed, failed, pending) = (passed + p, failed + f, pending + n);
    }
    println!("golden: {passed} passed, {failed} failed, {pending} pending");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn is_golden(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.ends_with(".json") || name.ends_with(".json.gz")
}

fn read_json(path: &Path) -> Result<Value, String> {
    let raw = std::fs::read(path).map_err(|e| e.to_string())?;
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut out).map_err(|e| e.to_string())?;
        out
    } else {
        String::from_utf8(raw).map_err(|e| e.to_string())?
    };
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn run_case(case: &Value) -> Result<(), String> {
    if case.get("scheduler").is_some() {
        run_scheduler_table(case)
    } else {
        run_optimizer_case(case)
    }
}

/// A scheduler of the golden files with MXNet's behaviour past `max_update` (adamant's default
/// differs on purpose: `docs/semantics.md`), which the recorded tables show when they skip it.
fn as_mxnet(scheduler: &Value) -> Value {
    let mut scheduler = scheduler.clone();
    if let Some(map) =
        scheduler.as_object_mut().filter(|m| matches!(m["type"].as_str(), Some("poly" | "cosine")))
    {
        map.insert("past_max_update".into(), "keep_last".into());
    }
    scheduler
}

/// `scheduler_tables.json`: the rate for each `num_update`, relative tolerance 1e-12.
fn run_scheduler_table(case: &Value) -> Result<(), String> {
    let mut scheduler = LrScheduler::from_json(&as_mxnet(&case["scheduler"])).map_err(|e| e.to_string())?;
    for call in case["calls"].as_array().ok_or("no calls")? {
        let n = call["num_update"].as_u64().ok_or("bad num_update")?;
        let want = call["lr"].as_f64().ok_or("bad lr")?;
        let got = scheduler.lr(n);
        if (got - want).abs() > 1e-12 * want.abs() {
            return Err(format!("num_update {n}: lr {got:e}, MXNet {want:e}"));
        }
    }
    Ok(())
}

/// The optimizer configuration of a case: its `optimizer` object, less the name, plus the
/// options its `semantics` call for.
fn optimizer_config(case: &Value) -> Result<(String, Value), String> {
    let mut config = case["optimizer"].clone();
    let map = config.as_object_mut().ok_or("no optimizer object")?;
    let name = map.remove("name").and_then(|n| n.as_str().map(String::from)).ok_or("no optimizer name")?;
    match case["semantics"]["wd_order"].as_str() {
        Some("any") | None => {}
        Some(order) => {
            map.insert("wd_order".into(), order.into());
        }
    }
    if let Some(half_math) = case["semantics"].get("half_math") {
        map.insert("half_math".into(), half_math.clone());
    }
    if let Some(scheduler) = map.get_mut("lr_scheduler").filter(|s| !s.is_null()) {
        *scheduler = as_mxnet(scheduler);
    }
    Ok((name, config))
}

fn run_optimizer_case(case: &Value) -> Result<(), String> {
    let (name, config) = optimizer_config(case)?;
    let optimizer = adamant::create(&name, &config).map_err(|e| format!("create: {e}"))?;
    let mut updater = Updater::new(optimizer);
    let exact = case["exact"].as_bool().ok_or("no `exact`")?;

    let mut weights: BTreeMap<u64, Weight> = BTreeMap::new();
    for p in case["params"].as_array().ok_or("no params")? {
        let shape: Vec<usize> =
            p["shape"].as_array().ok_or("no shape")?.iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let dtype = p["dtype"].as_str().ok_or("no dtype")?;
        // A row_sparse weight in these files holds every row (README: "all rows present").
        let all_rows = (p["stype"] == "row_sparse").then(|| (0..shape[0] as i64).collect());
        let data = decode(dtype, &p["weight"])?;
        weights.insert(p["index"].as_u64().ok_or("no index")?, Weight { shape, data, all_rows });
    }

    for (s, step) in case["steps"].as_array().ok_or("no steps")?.iter().enumerate() {
        for g in step["grads"].as_array().ok_or("no grads")? {
            let index = g["index"].as_u64().ok_or("grad without index")?;
            let Weight { shape, data, all_rows } =
                weights.get_mut(&index).ok_or("grad for an unknown index")?;
            let grad = decode(data.dtype().name(), &g["values"])?;
            let rows: Option<Vec<i64>> = match g["stype"].as_str() {
                Some("default") => None,
                Some("row_sparse") => Some(
                    g["row_indices"]
                        .as_array()
                        .ok_or("no row_indices")?
                        .iter()
                        .map(|r| r.as_i64().unwrap())
                        .collect(),
                ),
                _ => return Err(format!("step {s}: gradient storage {} is not supported", g["stype"])),
            };
            let grad_view = match &rows {
                None => Grad::Dense(TensorRef { shape, data: grad.as_ref() }),
                Some(r) => Grad::RowSparse(RowSparseRef { shape, row_indices: r, values: grad.as_ref() }),
            };
            let param = Param::new(index as usize, TensorMut { shape, data: data.as_mut() }, grad_view);
            let param = match all_rows {
                Some(rows) => param.with_weight_rows(rows),
                None => param,
            };
            updater.update(&mut [param]).map_err(|e| format!("step {s}: update: {e}"))?;
        }
        check_expect(&updater, &weights, &step["expect"], exact).map_err(|e| format!("step {s}, {e}"))?;
    }
    Ok(())
}

/// A parameter's weight as the case holds it between steps.
struct Weight {
    shape: Vec<usize>,
    data: Buffer,
    /// `Some(0..rows)` for a weight in row_sparse storage.
    all_rows: Option<Vec<i64>>,
}

fn check_expect(
    updater: &Updater,
    weights: &BTreeMap<u64, Weight>,
    expect: &Value,
    exact: bool,
) -> Result<(), String> {
    for w in expect["weights"].as_array().ok_or("no expected weights")? {
        let index = w["index"].as_u64().ok_or("no index")?;
        let got = weights.get(&index).ok_or("expected weight for unknown index")?;
        compare(&format!("index {index} weight"), got.data.as_ref(), &w["weight"], exact)?;
    }
    for st in expect["states"].as_array().ok_or("no expected states")? {
        let index = st["index"].as_u64().ok_or("no index")?;
        let what = |array: &str| format!("index {index} {array}");
        match updater.state(index as usize) {
            Some(State::Adam(adam)) => {
                compare(&what("mean"), adam.mean(), &st["mean"], exact)?;
                compare(&what("var"), adam.var(), &st["var"], exact)?;
            }
            Some(_) => return Err(format!("index {index}: not an Adam state")),
            None => {
                // Not updated yet, so no state was created: a fresh state is all zeros (the
                // emulated cases list such states; MXNet's Updater, like ours, creates them
                // on first update).
                let weight = &weights.get(&index).ok_or("expected state for unknown index")?.data;
                let zeros = Buffer::zeros(weight.dtype(), weight.len());
                compare(&what("mean (not created yet)"), zeros.as_ref(), &st["mean"], exact)?;
                compare(&what("var (not created yet)"), zeros.as_ref(), &st["var"], exact)?;
            }
        }
        if let Some(want) = st.get("weight32") {
            let Some(State::Adam(adam)) = updater.state(index as usize) else {
                return Err(format!("index {index}: no state with a master weight"));
            };
            let master = adam.master().ok_or(format!("index {index}: no master weight"))?;
            compare(&what("weight32"), DataRef::F32(master), want, exact)?;
        }
    }
    let base = updater.optimizer().base();
    let num_update = expect["num_update"].as_u64().ok_or("no num_update")?;
    if base.num_update() != num_update {
        return Err(format!("num_update {} but MXNet has {num_update}", base.num_update()));
    }
    for (index, count) in expect["update_counts"].as_object().ok_or("no update_counts")? {
        let index: usize = index.parse().map_err(|_| "bad update_counts key")?;
        let got = base.update_counts().get(&index).copied();
        if got != count.as_u64() {
            return Err(format!("index {index}: update count {got:?} but MXNet has {count}"));
        }
    }
    Ok(())
}

/// Bit patterns (a JSON list of integers) as a buffer of `dtype`.
fn decode(dtype: &str, bits: &Value) -> Result<Buffer, String> {
    let bits = bits.as_array().ok_or("bit patterns are not a list")?;
    let bits = bits.iter().map(|b| b.as_u64().ok_or("bit pattern is not an integer"));
    match dtype {
        "float16" => {
            Ok(Buffer::F16(bits.map(|b| b.map(|b| f16::from_bits(b as u16))).collect::<Result<_, _>>()?))
        }
        "bfloat16" => {
            Ok(Buffer::BF16(bits.map(|b| b.map(|b| bf16::from_bits(b as u16))).collect::<Result<_, _>>()?))
        }
        "float32" => {
            Ok(Buffer::F32(bits.map(|b| b.map(|b| f32::from_bits(b as u32))).collect::<Result<_, _>>()?))
        }
        "float64" => Ok(Buffer::F64(bits.map(|b| b.map(f64::from_bits)).collect::<Result<_, _>>()?)),
        other => Err(format!("dtype {other} is not supported")),
    }
}

/// Reads a bit pattern of the dtype at hand as a number.
type FromBits = fn(u64) -> f64;

/// Compares `got` with MXNet's bit patterns: bitwise (NaN equals NaN) when `exact`, else
/// within `1e-6 + 1e-5 * |want|` (the README's tolerance for MXNet's re-associated kernels).
fn compare(what: &str, got: DataRef<'_>, want: &Value, exact: bool) -> Result<(), String> {
    let want: Vec<u64> = want
        .as_array()
        .ok_or("expected bits are not a list")?
        .iter()
        .map(|b| b.as_u64().ok_or("expected bit pattern is not an integer"))
        .collect::<Result<_, _>>()?;
    // Each element as (value, bits), and how to read MXNet's bits in the same dtype.
    let (got, from_bits): (Vec<(f64, u64)>, FromBits) = match got {
        DataRef::F32(d) => (d.iter().map(|x| (f64::from(*x), u64::from(x.to_bits()))).collect(), |b| {
            f64::from(f32::from_bits(b as u32))
        }),
        DataRef::F64(d) => (d.iter().map(|x| (*x, x.to_bits())).collect(), f64::from_bits),
        DataRef::F16(d) => (d.iter().map(|x| (x.to_f64(), u64::from(x.to_bits()))).collect(), |b| {
            f16::from_bits(b as u16).to_f64()
        }),
        DataRef::BF16(d) => (d.iter().map(|x| (x.to_f64(), u64::from(x.to_bits()))).collect(), |b| {
            bf16::from_bits(b as u16).to_f64()
        }),
        _ => return Err(format!("{what}: unsupported dtype")),
    };
    if got.len() != want.len() {
        return Err(format!("{what}: {} elements, MXNet has {}", got.len(), want.len()));
    }
    for (i, (&(g, gbits), &wbits)) in got.iter().zip(&want).enumerate() {
        let w = from_bits(wbits);
        let both_nan = g.is_nan() && w.is_nan();
        let same = both_nan || if exact { gbits == wbits } else { (g - w).abs() <= 1e-6 + 1e-5 * w.abs() };
        if !same {
            return Err(format!(
                "{what}: first difference at element {i}: got {g:e} (bits {gbits:#x}), MXNet {w:e} (bits {wbits:#x})"
            ));
        }
    }
    Ok(())
}
