//! Replaying golden cases (see `tests/golden/README.md` for their provenance and format): build
//! the optimizer a case describes, run its steps through an `Updater`, and compare every weight,
//! state array, counter and optimizer scalar with the recorded bits, bitwise for `exact` cases
//! and within the file's tolerance for the dtype otherwise.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use adamant::{Buffer, DataRef, Grad, LrScheduler, Param, RowSparseRef, TensorMut, TensorRef, Updater};
use half::{bf16, f16};
use serde_json::Value;

/// A golden file: its family, its tolerance per dtype for inexact cases, and its cases.
pub struct File {
    pub name: String,
    pub family: String,
    pub tolerance: Tolerance,
    pub cases: Vec<Value>,
}

/// `|a - b| <= atol + rtol * |b|` per dtype name.
#[derive(Debug, Clone, Default)]
pub struct Tolerance(BTreeMap<String, (f64, f64)>);

impl Tolerance {
    /// A file's `"tolerance"`, or, for MXNet's files (which have none), the README's float32
    /// tolerance for the cases where MXNet's sparse kernels associate one product differently.
    fn of(file: &Value) -> Tolerance {
        let mut t = BTreeMap::new();
        match file["tolerance"].as_object() {
            Some(per_dtype) => {
                for (dtype, tol) in per_dtype {
                    let (atol, rtol) =
                        (tol["atol"].as_f64().unwrap_or(0.0), tol["rtol"].as_f64().unwrap_or(0.0));
                    t.insert(dtype.clone(), (atol, rtol));
                }
            }
            None => {
                t.insert("float32".to_string(), (1e-6, 1e-5));
            }
        }
        Tolerance(t)
    }

    fn get(&self, dtype: &str) -> Result<(f64, f64), String> {
        self.0
            .get(dtype)
            .copied()
            .ok_or_else(|| format!("the file gives no tolerance for inexact {dtype} values"))
    }
}

/// The directories the golden test replays: `$ADAMANT_GOLDEN_DIR` when set, else the project's
/// copies of `mxnet/` and `torch/`.
pub fn directories() -> Vec<PathBuf> {
    match std::env::var_os("ADAMANT_GOLDEN_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
            vec![golden.join("mxnet"), golden.join("torch")]
        }
    }
}

/// Every `.json` and `.json.gz` file of `dir`, sorted.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.ends_with(".json") || name.ends_with(".json.gz")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a golden file.
pub fn read(path: &Path) -> Result<File, String> {
    let raw = std::fs::read(path).map_err(|e| e.to_string())?;
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut out).map_err(|e| e.to_string())?;
        out
    } else {
        String::from_utf8(raw).map_err(|e| e.to_string())?
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(File {
        name: path.file_name().unwrap_or_default().to_string_lossy().into_owned(),
        family: value["family"].as_str().unwrap_or_default().to_string(),
        tolerance: Tolerance::of(&value),
        cases: value["cases"].as_array().cloned().unwrap_or_default(),
    })
}

/// The golden file `name` of the project's copy of `dir` (`mxnet` or `torch`).
pub fn project_file(dir: &str, name: &str) -> File {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(dir).join(format!("{name}.json.gz"));
    read(&path).unwrap()
}

/// Runs `case` of a file with `tolerance`; `config` may change the optimizer configuration the
/// case describes (to show that another rule fails it, say).
pub fn run(case: &Value, tolerance: &Tolerance, config: &dyn Fn(&mut Value)) -> Result<(), String> {
    if case.get("scheduler").is_some() {
        run_scheduler_table(case)
    } else {
        run_optimizer_case(case, tolerance, config)
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
/// options its `semantics` name (the same names as the registry's).
fn optimizer_config(case: &Value) -> Result<(String, Value), String> {
    let mut config = case["optimizer"].clone();
    let map = config.as_object_mut().ok_or("no optimizer object")?;
    let name = map.remove("name").and_then(|n| n.as_str().map(String::from)).ok_or("no optimizer name")?;
    for (option, value) in case["semantics"].as_object().into_iter().flatten() {
        // "any": both of MXNet's versions give these bits; the default will do.
        if value != "any" {
            map.insert(option.clone(), value.clone());
        }
    }
    if let Some(scheduler) = map.get_mut("lr_scheduler").filter(|s| !s.is_null()) {
        *scheduler = as_mxnet(scheduler);
    }
    Ok((name, config))
}

/// A number of the golden files: a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn number(value: &Value) -> Result<f64, String> {
    match value {
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        other => other.as_f64().ok_or_else(|| format!("{other} is not a number")),
    }
}

/// A parameter's weight as the case holds it between steps.
struct Weight {
    shape: Vec<usize>,
    data: Buffer,
    /// `Some(0..rows)` for a weight in row_sparse storage.
    all_rows: Option<Vec<i64>>,
}

fn run_optimizer_case(
    case: &Value,
    tolerance: &Tolerance,
    change: &dyn Fn(&mut Value),
) -> Result<(), String> {
    let (name, mut config) = optimizer_config(case)?;
    change(&mut config);
    let optimizer = adamant::create(&name, &config).map_err(|e| format!("create: {e}"))?;
    let mut updater = Updater::new(optimizer);
    let exact = case["exact"].as_bool().ok_or("no `exact`")?;
    let compare = Compare { exact, tolerance };

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
        if let Some(rescale_grad) = step.get("rescale_grad") {
            let rescale_grad = number(rescale_grad)?;
            updater.optimizer_mut().set_rescale_grad(rescale_grad).map_err(|e| format!("step {s}: {e}"))?;
        }
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
        check_expect(&updater, &weights, &step["expect"], &compare).map_err(|e| format!("step {s}, {e}"))?;
    }
    Ok(())
}

fn check_expect(
    updater: &Updater,
    weights: &BTreeMap<u64, Weight>,
    expect: &Value,
    compare: &Compare<'_>,
) -> Result<(), String> {
    for w in expect["weights"].as_array().ok_or("no expected weights")? {
        let index = w["index"].as_u64().ok_or("no index")?;
        let got = weights.get(&index).ok_or("expected weight for unknown index")?;
        compare.arrays(&format!("index {index} weight"), got.data.as_ref(), &w["weight"])?;
    }
    for st in expect["states"].as_array().ok_or("no expected states")? {
        let index = st["index"].as_u64().ok_or("no index")?;
        let weight = &weights.get(&index).ok_or("expected state for unknown index")?.data;
        for (name, want) in st.as_object().ok_or("a state is not an object")? {
            if name == "index" {
                continue;
            }
            let what = format!("index {index} {name}");
            match updater.state(index as usize) {
                Some(state) => {
                    let got = state.array(name).ok_or(format!("{what}: the state has no such array"))?;
                    compare.arrays(&what, got, want)?;
                }
                None => {
                    // Not updated yet, so no state was created: a fresh state is all zeros (the
                    // emulated cases list such states; MXNet's Updater, like ours, creates them on
                    // first update).
                    let zeros = Buffer::zeros(weight.dtype(), weight.len());
                    compare.arrays(&format!("{what} (not created yet)"), zeros.as_ref(), want)?;
                }
            }
        }
    }
    let base = updater.optimizer().base();
    let num_update = expect["num_update"].as_u64().ok_or("no num_update")?;
    if base.num_update() != num_update {
        return Err(format!("num_update {} but the case has {num_update}", base.num_update()));
    }
    for (index, count) in expect["update_counts"].as_object().ok_or("no update_counts")? {
        let index: usize = index.parse().map_err(|_| "bad update_counts key")?;
        let got = base.update_counts().get(&index).copied();
        if got != count.as_u64() {
            return Err(format!("index {index}: update count {got:?} but the case has {count}"));
        }
    }
    if let Some(want) = expect.get("m_schedule") {
        let want = want.as_u64().ok_or("m_schedule is not bits")?;
        let scalars = updater.optimizer().scalars();
        let got =
            scalars.iter().find(|(n, _)| *n == "m_schedule").ok_or("the optimizer keeps no m_schedule")?.1;
        if got.to_bits() != want {
            return Err(format!(
                "m_schedule {got:e} (bits {:#x}), the case has {:e} (bits {want:#x})",
                got.to_bits(),
                f64::from_bits(want)
            ));
        }
    }
    Ok(())
}

/// Bit patterns (a JSON list of integers) as a buffer of `dtype`.
pub fn decode(dtype: &str, bits: &Value) -> Result<Buffer, String> {
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

/// How a case compares: bitwise (NaN equals NaN), or within the tolerance of each dtype.
struct Compare<'a> {
    exact: bool,
    tolerance: &'a Tolerance,
}

/// Reads a bit pattern of the dtype at hand as a number.
type FromBits = fn(u64) -> f64;

impl Compare<'_> {
    fn arrays(&self, what: &str, got: DataRef<'_>, want: &Value) -> Result<(), String> {
        let want: Vec<u64> = want
            .as_array()
            .ok_or("expected bits are not a list")?
            .iter()
            .map(|b| b.as_u64().ok_or("expected bit pattern is not an integer"))
            .collect::<Result<_, _>>()?;
        let dtype = got.dtype().name();
        // Each element as (value, bits), and how to read the case's bits in the same dtype.
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
            return Err(format!("{what}: {} elements, the case has {}", got.len(), want.len()));
        }
        let (atol, rtol) = if self.exact { (0.0, 0.0) } else { self.tolerance.get(dtype)? };
        for (i, (&(g, gbits), &wbits)) in got.iter().zip(&want).enumerate() {
            let w = from_bits(wbits);
            let both_nan = g.is_nan() && w.is_nan();
            let same =
                both_nan || if self.exact { gbits == wbits } else { (g - w).abs() <= atol + rtol * w.abs() };
            if !same {
                return Err(format!(
                    "{what}: first difference at element {i}: got {g:e} (bits {gbits:#x}), the case has {w:e} (bits {wbits:#x})"
                ));
            }
        }
        Ok(())
    }
}
