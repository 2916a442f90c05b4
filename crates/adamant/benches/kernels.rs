//! One step of 1M elements, one thread: the reference loop against the fast loop at every
//! instruction-set level this CPU has, for float32, float16 and bfloat16 with float32 master
//! weights, under each rule. Run with `cargo bench -p adamant --bench kernels`.

use adamant::{Element, Isa, Param, Updater};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::{bf16, f16};
use serde_json::{json, Value};

const N: usize = 1 << 20;

/// Steps one weight of `N` elements of `T` with optimizer `optimizer` and `config`.
fn bench<T: Element>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    optimizer: &str,
    config: &Value,
    from: fn(f32) -> T,
) {
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(N as u64));
    let mut updater = Updater::new(adamant::create(optimizer, config).expect("a valid configuration"));
    updater.set_threads(1).expect("one thread");
    let (mut w, g) = (vec![from(0.5); N], vec![from(0.1); N]);
    let shape = [N];
    group.bench_function(BenchmarkId::from_parameter(name), |b| {
        b.iter(|| updater.update(&mut [Param::dense(0, &shape, &mut w, &g)]).expect("a valid step"))
    });
    group.finish();
}

fn loops(c: &mut Criterion) {
    let mut runs: Vec<(String, bool, Isa)> = vec![("reference".into(), false, Isa::detected())];
    runs.extend(Isa::available().into_iter().map(|isa| (format!("fused-{isa:?}"), true, isa)));
    let rules = [
        ("adam", "adam", json!({"wd": 1e-4, "clip_gradient": 1.0})),
        ("adam-torch", "adam", json!({"wd": 1e-4, "rule": "torch"})),
        ("adamw", "adamw", json!({"wd": 1e-4, "clip_gradient": 1.0})),
    ];
    for (run, fused, isa) in runs {
        isa.set();
        for (label, optimizer, config) in &rules {
            let group = format!("{label}_1M");
            let mut config = config.clone();
            config["use_fused_step"] = json!(fused);
            bench(c, &group, &format!("f32/{run}"), optimizer, &config, |x| x);
            if *label == "adam" {
                bench(c, &group, &format!("f16/{run}"), optimizer, &config, f16::from_f32);
            }
            config["multi_precision"] = json!(true);
            bench(c, &group, &format!("bf16-master/{run}"), optimizer, &config, bf16::from_f32);
        }
    }
    Isa::detected().set();
}

criterion_group!(benches, loops);
criterion_main!(benches);
