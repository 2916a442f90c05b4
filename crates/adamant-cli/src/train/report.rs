//! What `adamant train` prints: a line per model and epoch, and a summary (text or JSON).

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use crate::output::outln;

/// One model's figures after one epoch.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Record {
    pub epoch: usize,
    pub model: String,
    pub train_loss: f32,
    pub test_loss: f32,
    pub test_accuracy: f32,
    /// Mean time of one optimizer step (update call) in this epoch.
    pub step_ms: f64,
    /// The base learning rate at the end of the epoch (the scheduler's, where there is one).
    #[serde(default)]
    pub lr: f64,
}

/// How a run reports.
pub struct Report {
    pub json: bool,
    pub epochs: usize,
    /// In text, every `every`-th epoch is shown (and the first and the last), so that a long run
    /// stays readable; JSON has every epoch.
    pub every: usize,
}

impl Report {
    /// A report of `epochs` epochs, showing about 25 lines per model in text.
    pub fn new(json: bool, epochs: usize) -> Report {
        Report { json, epochs, every: epochs.div_ceil(25).max(1) }
    }

    /// The line of one model's epoch.
    pub fn epoch(&self, r: &Record) -> Result<()> {
        if self.json {
            outln!("{}", serde_json::to_string(r)?)?;
        } else if r.epoch.is_multiple_of(self.every) || r.epoch == 1 || r.epoch == self.epochs {
            let (epoch, epochs) = (r.epoch, self.epochs);
            outln!(
                "epoch {epoch:>3}/{epochs}  {:<9} lr {:.3e}  train loss {:>8.4}  test loss {:>8.4}  test accuracy {:6.2}%  step {:.3} ms",
                r.model,
                r.lr,
                r.train_loss,
                r.test_loss,
                100.0 * r.test_accuracy,
                r.step_ms
            )?;
        }
        Ok(())
    }

    /// The summary: each model's final figures, where the data came from, and the time.
    pub fn summary(&self, records: &[Record], data: &str, seconds: f64) -> Result<()> {
        let last: Vec<&Record> = records.iter().filter(|r| r.epoch == self.epochs).collect();
        let step = |name: &str| records.iter().filter(|r| r.model == name).map(|r| r.step_ms).sum::<f64>();
        let both = ["lazy", "standard"].iter().all(|m| records.iter().any(|r| r.model == *m));
        let speedup = both.then(|| step("standard") / step("lazy"));
        if self.json {
            let finals: Vec<_> = last
                .iter()
                .map(|r| {
                    json!({"model": r.model, "train_loss": short(r.train_loss), "test_loss": short(r.test_loss),
                           "test_accuracy": short(r.test_accuracy)})
                })
                .collect();
            let summary = json!({"data": data, "epochs": self.epochs, "seconds": seconds, "models": finals, "lazy_speedup": speedup});
            outln!("{}", json!({ "summary": summary }))?;
            return Ok(());
        }
        for r in &last {
            let epochs = if r.epoch == 1 { "1 epoch".to_string() } else { format!("{} epochs", r.epoch) };
            outln!(
                "{}: test accuracy {:.2}% on {data} after {epochs} (final train loss {:.4})",
                r.model,
                100.0 * r.test_accuracy,
                r.train_loss
            )?;
        }
        if let Some(s) = speedup {
            outln!("{}", speed_line(s))?;
        }
        outln!("total time: {seconds:.2} s (training and evaluating every model, the epochs of this run)")?;
        Ok(())
    }
}

/// How lazy steps compared with standard ones, `speedup` being standard time / lazy time.
fn speed_line(speedup: f64) -> String {
    match speedup {
        // Within 5%, the difference is the machine's noise.
        s if (1.0 / 1.05..=1.05).contains(&s) => {
            "lazy and standard Adam steps took about as long".to_string()
        }
        s if s > 1.0 => format!("lazy Adam steps were {s:.1}x faster than standard Adam steps"),
        s => format!("lazy Adam steps were {:.1}x slower than standard Adam steps", 1.0 / s),
    }
}

/// A float32 figure as JSON with the digits float32 has (`0.7360436`), not those of its float64
/// widening (`0.7360435724258423`), as the epoch records print it.
fn short(x: f32) -> serde_json::Value {
    x.to_string().parse::<f64>().map_or(serde_json::Value::Null, serde_json::Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_speed_line_says_faster_slower_or_about_as_long() {
        assert_eq!(speed_line(50.8), "lazy Adam steps were 50.8x faster than standard Adam steps");
        assert_eq!(speed_line(0.1), "lazy Adam steps were 10.0x slower than standard Adam steps");
        for s in [1.0, 1.04, 0.97] {
            assert_eq!(speed_line(s), "lazy and standard Adam steps took about as long");
        }
    }
}
