//! `--plot FILE.svg`: the loss curves of every model, train and test, per epoch.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use super::report::Record;

/// Draws train and test loss per epoch for each model (`path` ends in `.svg`: the arguments checked it).
pub fn draw(path: &Path, title: &str, records: &[Record]) -> Result<()> {
    let epochs = records.iter().map(|r| r.epoch as u32).max().unwrap_or(1).max(2);
    let top = records.iter().flat_map(|r| [r.train_loss, r.test_loss]).fold(0.0f32, f32::max) * 1.05;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    // Epochs are whole numbers: an integer axis puts its ticks on them.
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1u32..epochs, 0f32..top.max(1e-3))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("cross-entropy loss")
        .x_labels(epochs.min(12) as usize)
        .draw()?;
    let mut models: Vec<&str> = Vec::new();
    for r in records {
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (k, model) in models.iter().enumerate() {
        let color = colors[k % colors.len()];
        let of = |f: fn(&Record) -> f32| {
            records
                .iter()
                .filter(|r| r.model == *model)
                .map(move |r| (r.epoch as u32, f(r)))
                .collect::<Vec<_>>()
        };
        let line = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(of(|r| r.train_loss), line))?
            .label(format!("{model} train"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], line));
        // The test curve is dashed, and so is its legend entry.
        chart
            .draw_series(DashedLineSeries::new(of(|r| r.test_loss), 6, 4, line))?
            .label(format!("{model} test"))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new([(0, 0), (6, 0)], line)
                    + PathElement::new([(10, 0), (16, 0)], line)
            });
    }
    // Losses fall: the upper right corner is where the curves are not.
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
