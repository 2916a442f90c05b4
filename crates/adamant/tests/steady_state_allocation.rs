//! After the first step of a batch, a step allocates nothing: dense, lazy and standard
//! row-sparse, every dtype, master weights on and off, every optimizer and rule, the fused
//! step and the reference one, on 2 threads
//! (the counting allocator counts the test's thread and the workers of the pool the steps run
//! in). The batch shrinks
//! over the first steps (fewer tensors, fewer listed rows), so buffers sized by the first,
//! largest step must serve the later ones, then repeats.
//!
//! The steps run inside the rayon pool. Called from outside a pool, rayon queues each call in
//! blocks of 63 jobs: one allocation per 63 steps, which the last test bounds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

mod common;

use adamant::{Buffer, DType, Grad, Param, RowSparseRef, TensorMut, TensorRef, Updater};
use serde_json::{json, Value};

/// Counts allocation calls while `COUNTING` is set, on the threads that take part in a step
/// (or on every thread while `EVERY_THREAD` is set too).
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static EVERY_THREAD: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread takes part in the steps counted: a test's own thread, or a worker of
    /// a rayon pool the tests build. Not libtest's thread, which prints other tests' results
    /// whenever they end, nor the workers of a pool another test dropped, which allocate as
    /// they exit (both made a steady step seem to allocate, now and then).
    static TAKES_PART: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.load(Ordering::Relaxed)
        && (EVERY_THREAD.load(Ordering::Relaxed) || TAKES_PART.with(Cell::get))
    {
        CALLS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The pool of 2 threads the steps run in, whose allocations count from when they have started
/// (a thread allocates as it starts or ends, on its own schedule: the pool is never dropped).
fn counted_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.broadcast(|_| TAKES_PART.set(true));
        pool
    })
}

// SAFETY: every method forwards to the system allocator with the caller's own arguments, so
// the GlobalAlloc contract is the system allocator's; counting touches only atomics and a
// thread-local flag that is initialised without allocating and has no destructor.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Held by each test: the count is the whole process's.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Allocation calls made by `f`, on this thread and the workers of the tests' pools.
fn allocations(f: impl FnOnce()) -> usize {
    TAKES_PART.set(true);
    CALLS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    CALLS.load(Ordering::SeqCst)
}

/// Allocation calls made by `f` on any thread (the workers of a pool an `Updater` owns
/// included).
fn allocations_on_every_thread(f: impl FnOnce()) -> usize {
    EVERY_THREAD.store(true, Ordering::SeqCst);
    let calls = allocations(f);
    EVERY_THREAD.store(false, Ordering::SeqCst);
    calls
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    Dense,
    Lazy,
    Standard,
}

const ROWS: usize = 3000;
const ROW_LEN: usize = 24;
/// Dense tensors of the first step: large enough to be split between threads.
const DENSE: [usize; 4] = [70_000, 33_000, 1, 257];

fn filled(n: usize, seed: usize, dtype: DType) -> Buffer {
    let values: Vec<f64> = (0..n).map(|i| ((i * 7 + seed * 13) % 101) as f64 * 0.02 - 1.0).collect();
    common::to_buffer(&values, dtype)
}

/// Listed rows of step `step`: fewer each step, unsorted, with a repeat.
fn listed(step: usize) -> Vec<i64> {
    let count = 1200 / (step + 1);
    let mut rows: Vec<i64> = (0..count).map(|i| ((i * 2_654_435_761 + step) % ROWS) as i64).collect();
    rows.push(rows[0]);
    rows
}

/// Steady-state steps after the shrinking ones.
const REPEATS: usize = 20;

/// Runs steps of `path` with `name` and `config` on `dtype` weights: four with fewer tensors
/// (and rows) each, then [`REPEATS`] of the last; returns the allocation calls of each step
/// after the first.
fn steady_allocations(name: &str, config: &Value, dtype: DType, path: Path) -> Vec<usize> {
    let mut updater = Updater::new(adamant::create(name, config).unwrap());
    let shapes: Vec<Vec<usize>> = match path {
        Path::Dense => DENSE.iter().map(|&n| vec![n]).collect(),
        Path::Lazy | Path::Standard => vec![vec![ROWS, ROW_LEN]; 3],
    };
    let mut weights: Vec<Buffer> =
        shapes.iter().enumerate().map(|(i, s)| filled(s.iter().product(), i, dtype)).collect();
    let mut counts = Vec::new();
    for step in 0..4 {
        let tensors = shapes.len() - step.min(shapes.len() - 1);
        let rows = listed(step);
        let grads: Vec<Buffer> = shapes[..tensors]
            .iter()
            .enumerate()
            .map(|(i, s)| match path {
                Path::Dense => filled(s.iter().product(), 100 + i + step, dtype),
                Path::Lazy | Path::Standard => filled(rows.len() * ROW_LEN, 100 + i + step, dtype),
            })
            .collect();
        let mut batch: Vec<Param<'_>> = weights[..tensors]
            .iter_mut()
            .zip(&grads)
            .zip(&shapes)
            .enumerate()
            .map(|(i, ((w, g), shape))| {
                let grad = match path {
                    Path::Dense => Grad::Dense(TensorRef { shape, data: g.as_ref() }),
                    Path::Lazy | Path::Standard => {
                        Grad::RowSparse(RowSparseRef { shape, row_indices: &rows, values: g.as_ref() })
                    }
                };
                Param::new(i, TensorMut { shape, data: w.as_mut() }, grad)
            })
            .collect();
        if step == 0 {
            updater.update(&mut batch).unwrap();
            continue;
        }
        counts.push(allocations(|| updater.update(&mut batch).unwrap()));
        if step == 3 {
            counts.extend((0..REPEATS).map(|_| allocations(|| updater.update(&mut batch).unwrap())));
        }
    }
    counts
}

/// Every optimizer and rule, with the paths it takes.
fn optimizers() -> Vec<(&'static str, Value, Vec<Path>)> {
    use Path::*;
    let sparse = vec![Dense, Lazy, Standard];
    vec![
        ("adam", json!({"lazy_update": true}), sparse.clone()),
        ("adam", json!({"lazy_update": false}), vec![Standard]),
        ("adam", json!({"rule": "torch", "amsgrad": true}), sparse.clone()),
        ("adamw", json!({}), sparse.clone()),
        ("adamw", json!({"rule": "torch"}), sparse.clone()),
        ("adamax", json!({}), sparse.clone()),
        ("nadam", json!({}), sparse.clone()),
        ("lamb", json!({}), vec![Dense]),
        ("lamb", json!({"lamb_kernel": "phase"}), vec![Dense]),
    ]
}

#[test]
fn a_steady_state_step_allocates_nothing_on_any_path() {
    let _alone = ALONE.lock().unwrap();
    counted_pool().install(every_path_allocates_nothing);
}

fn every_path_allocates_nothing() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for (name, config, paths) in optimizers() {
        for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
            for (multi_precision, fused) in [(false, true), (true, true), (false, false), (true, false)] {
                let mut config = config.clone();
                config["multi_precision"] = json!(multi_precision);
                config["use_fused_step"] = json!(fused);
                let half = matches!(dtype, DType::F16 | DType::BF16);
                // LAMB has no half-precision arithmetic and its phase kernel no master copy.
                let phase = config.get("lamb_kernel").is_some();
                if name == "lamb" && ((half && !multi_precision) || (phase && multi_precision)) {
                    continue;
                }
                if config["rule"] == "torch" && half && !multi_precision {
                    continue;
                }
                for &path in &paths {
                    cases += 1;
                    let counts = steady_allocations(name, &config, dtype, path);
                    if counts.iter().any(|&c| c != 0) {
                        failures.push(format!("{name} {config} {dtype:?} {path:?}: {counts:?}"));
                    }
                }
            }
        }
    }
    assert!(cases > 250, "only {cases} cases ran");
    assert!(failures.is_empty(), "{} of {cases} cases allocated:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn called_from_outside_its_pool_a_step_allocates_only_rayons_job_queue_blocks() {
    let _alone = ALONE.lock().unwrap();
    let mut updater = Updater::new(adamant::create("adam", &json!({})).unwrap());
    updater.set_threads(2).unwrap();
    let (mut w, g, shape) = (vec![0.5f32; 100_000], vec![0.1f32; 100_000], [100_000]);
    let mut batch = [Param::dense(0, &shape, &mut w, &g)];
    updater.update(&mut batch).unwrap();
    // The pool's threads allocate as they start: let them.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let steps = 630;
    let calls = allocations_on_every_thread(|| (0..steps).for_each(|_| updater.update(&mut batch).unwrap()));
    assert!(calls <= steps / 63 + 1, "{calls} allocations in {steps} steps");
}

#[test]
fn ids_beyond_what_a_sort_key_packs_sort_without_allocating() {
    let _alone = ALONE.lock().unwrap();
    let pool = counted_pool();
    // 2^33 rows of no elements: rows at or above 2^32 take the comparison sort, in place.
    let shape = [1usize << 33, 0];
    let ids: Vec<i64> = (0..3000i64).map(|i| (i * 2_654_435_761) % (1 << 33)).collect();
    let (mut w, values) = (Vec::<f32>::new(), Vec::<f32>::new());
    for (lazy, fused) in [(true, true), (true, false), (false, true), (false, false)] {
        let config = json!({"lazy_update": lazy, "use_fused_step": fused});
        let mut updater = Updater::new(adamant::create("adam", &config).unwrap());
        let counts: Vec<usize> = pool.install(|| {
            let mut step =
                || updater.update(&mut [Param::row_sparse(0, &shape, &mut w, &ids, &values)]).unwrap();
            step();
            (0..5).map(|_| allocations(&mut step)).collect()
        });
        assert_eq!(counts, [0; 5], "lazy {lazy}, fused {fused}");
    }
}
