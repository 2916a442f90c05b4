//! The built-in handwritten digits (UCI optdigits test set, 1,797 8x8 images; see
//! `data/README.md` for source and license), split into train and test sets by seed.

use std::io::Read;

use anyhow::{bail, Context, Result};

use super::rng::Rng;

static DIGITS_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// Images (64 floats in [0, 1] each, row-major) and their labels.
#[derive(Debug, Clone, Default)]
pub struct Images {
    /// `len * 64` pixels.
    pub pixels: Vec<f32>,
    /// One label in 0..10 per image.
    pub labels: Vec<usize>,
}

impl Images {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
}

/// The pixels per image.
pub const FEATURES: usize = 64;
/// The classes.
pub const CLASSES: usize = 10;

/// Parses `name`'s CSV text: 64 pixels in 0..16, then the label.
fn parse(name: &str, text: &str) -> Result<Images> {
    let mut images = Images::default();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != FEATURES + 1 {
            bail!("{name}:{}: expected {} comma-separated values, got {}", i + 1, FEATURES + 1, fields.len());
        }
        for f in &fields[..FEATURES] {
            let v: f32 =
                f.parse().with_context(|| format!("{name}:{}: pixel {f:?} is not a number", i + 1))?;
            images.pixels.push(v / 16.0);
        }
        let label: usize =
            fields[FEATURES].parse().with_context(|| format!("{name}:{}: bad label", i + 1))?;
        if label >= CLASSES {
            bail!("{name}:{}: label {label} is not in 0..10", i + 1);
        }
        images.labels.push(label);
    }
    Ok(images)
}

/// The built-in set, shuffled by `seed`, as (train, test) with a fifth held out for test.
pub fn load(seed: u64) -> Result<(Images, Images)> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .context("the built-in digits do not decompress")?;
    let all = parse("digits.csv.gz", &text)?;
    let mut order: Vec<usize> = (0..all.len()).collect();
    Rng::new(seed, u64::MAX).shuffle(&mut order);
    let test_len = all.len() / 5;
    let pick = |indices: &[usize]| Images {
        pixels: indices
            .iter()
            .flat_map(|&i| all.pixels[i * FEATURES..(i + 1) * FEATURES].iter().copied())
            .collect(),
        labels: indices.iter().map(|&i| all.labels[i]).collect(),
    };
    Ok((pick(&order[test_len..]), pick(&order[..test_len])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_set_has_1797_images_split_four_to_one() {
        let (train, test) = load(1).unwrap();
        assert_eq!((train.len(), test.len()), (1438, 359));
        assert!(train.pixels.iter().all(|&p| (0.0..=1.0).contains(&p)));
        assert_eq!(load(1).unwrap().1.labels, test.labels, "the split depends only on the seed");
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let err = parse("x.csv", "1,2,3\n").unwrap_err().to_string();
        assert_eq!(err, "x.csv:1: expected 65 comma-separated values, got 3");
    }
}
