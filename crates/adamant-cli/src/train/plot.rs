//! `--plot FILE.svg`: the loss curves of every model, train and test, per epoch.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use super::report::Record;

/// Draws train and test loss per epoch for each model (`path` ends in `.svg`: the arguments checked it).
pub fn draw(path: &Path, title: &str, records: &[Record]) -> Result<()> {
    let epochs = records.iter().map(|r| r.epoch).max().unwrap_or(1) as f32;
    let top = records.iter().flat_map(|r| [r.train_loss, r.test_loss]).fold(0.0f32, f32::max) * 1.05;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1f32..epochs.max(2.0), 0f32..top.max(1e-3))?;
    chart.configure_mesh().x_desc("epoch").y_desc("cross-entropy loss").draw()?;
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
                .map(move |r| (r.epoch as f32, f(r)))
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(LineSeries::new(of(|r| r.train_loss), color.stroke_width(2)))?
            .label(format!("{model} train"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(DashedLineSeries::new(of(|r| r.test_loss), 6, 4, color.stroke_width(2)))?
            .label(format!("{model} test"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}
