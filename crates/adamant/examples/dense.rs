//! Fitting a dense least-squares model with Adam: `cargo run --example dense -p adamant`.
//!
//! `w` (a 4 x 3 matrix) is learned so that `x w ~ y` for data drawn from a planted `w*`; the
//! gradient of the mean squared error is written out by hand.

use adamant::{Param, Updater};
use serde_json::json;

fn main() -> Result<(), adamant::Error> {
    let truth = [0.5f32, -1.0, 2.0, 1.5, 0.0, -0.5, 0.25, 1.0, -2.0, -1.0, 0.75, 0.5];
    let xs: Vec<[f32; 4]> =
        (0..64).map(|i| [(i % 7) as f32 / 7.0, (i % 5) as f32 / 5.0, (i % 3) as f32 / 3.0, 1.0]).collect();
    let ys: Vec<[f32; 3]> =
        xs.iter().map(|x| std::array::from_fn(|j| (0..4).map(|i| x[i] * truth[i * 3 + j]).sum())).collect();

    let adam = adamant::create(
        "adam",
        &json!({"learning_rate": 0.05, "lr_scheduler": {"type": "cosine", "max_update": 400}}),
    )?;
    let mut updater = Updater::new(adam);
    let mut w = vec![0.0f32; 12];
    for step in 0..400 {
        let mut grad = vec![0.0f32; 12];
        let mut loss = 0.0;
        for (x, y) in xs.iter().zip(&ys) {
            for j in 0..3 {
                let err = (0..4).map(|i| x[i] * w[i * 3 + j]).sum::<f32>() - y[j];
                loss += err * err / xs.len() as f32;
                (0..4).for_each(|i| grad[i * 3 + j] += 2.0 * err * x[i] / xs.len() as f32);
            }
        }
        updater.update(&mut [Param::dense(0, &[4, 3], &mut w, &grad)])?;
        if step % 100 == 0 {
            println!(
                "step {step:>3}: loss {loss:.5}, learning rate {:.4}",
                updater.optimizer().learning_rate()
            );
        }
    }
    let error = w.iter().zip(&truth).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("largest weight error after 400 steps: {error:.4}");
    Ok(())
}
