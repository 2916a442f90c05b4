#![allow(dead_code)]
#[path = "../src/bench/op_by_op.rs"]
mod op_by_op;
#[path = "../src/bench/scenarios.rs"]
mod scenarios;
#[path = "../src/bench/stream.rs"]
mod stream;
use std::time::Instant;
fn t(f: &mut dyn FnMut()) -> f64 {
    let s = Instant::now();
    f();
    s.elapsed().as_secs_f64() * 1e3
}
fn main() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let want: Vec<String> = std::env::args().skip(1).collect();
    for sc in scenarios::all(1.0).into_iter().filter(|s| want.iter().any(|w| s.name.contains(w.as_str()))) {
        let (mut work, mut stream) = sc.build().unwrap();
        pool.install(|| {
            for i in 0..6 {
                let a = t(&mut || work.step().unwrap());
                let b = t(&mut || stream.run());
                let c = t(&mut || stream.run());
                println!("{} rep {i}: step {a:6.1} stream {b:6.1} stream again {c:6.1} ms", sc.name);
            }
        });
    }
}
