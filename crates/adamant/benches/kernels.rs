//! The element loops on 1M elements, one thread: the reference loop against the fast loop at
//! every instruction-set level this CPU has, for each storage type. Run with
//! `cargo bench -p adamant --bench kernels`.

use adamant::kernel::{Isa, Loop, Scalars, StepScalars, WdOrder};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::{bf16, f16};

const N: usize = 1 << 20;

fn scalars() -> StepScalars {
    StepScalars {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        wd: 1e-4,
        rescale_grad: 1.0,
        clip_gradient: Some(1.0),
        wd_order: WdOrder::AfterClip,
    }
}

fn loops(c: &mut Criterion) {
    let mut group = c.benchmark_group("adam_1M");
    group.throughput(Throughput::Elements(N as u64));
    let s = scalars();
    let mut runs: Vec<(String, Loop, Isa)> = vec![("reference".into(), Loop::Reference, Isa::detected())];
    runs.extend(Isa::available().into_iter().map(|isa| (format!("fused-{isa:?}"), Loop::Fused, isa)));
    for (name, l, isa) in runs {
        isa.set();
        let (mut w, g, mut m, mut v) = (vec![0.5f32; N], vec![0.1f32; N], vec![0f32; N], vec![0f32; N]);
        let k = Scalars::<f32>::new(&s);
        group.bench_function(BenchmarkId::new("f32", &name), |b| {
            b.iter(|| l.run(&mut w, &g, &mut m, &mut v, &k))
        });
        let h = |x: f32| vec![f16::from_f32(x); N];
        let (mut w, g, mut m, mut v) = (h(0.5), h(0.1), h(0.0), h(0.0));
        group.bench_function(BenchmarkId::new("f16", &name), |b| {
            b.iter(|| l.run(&mut w, &g, &mut m, &mut v, &k))
        });
        let (mut w, g) = (vec![bf16::from_f32(0.5); N], vec![bf16::from_f32(0.1); N]);
        let (mut x, mut m, mut v) = (vec![0.5f32; N], vec![0f32; N], vec![0f32; N]);
        group.bench_function(BenchmarkId::new("bf16-master", &name), |b| {
            b.iter(|| l.run_mixed(&mut w, &mut x, &g, &mut m, &mut v, &k))
        });
    }
    Isa::detected().set();
    group.finish();
}

criterion_group!(benches, loops);
criterion_main!(benches);
