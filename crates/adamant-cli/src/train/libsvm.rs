//! Reading LIBSVM / SVMlight files (`label index:value index:value ...`, `#` comments) as real
//! data sets come: any two label values for two classes (`+1`/`-1`, `0`/`1`, `1`/`2`, `2`/`4`),
//! more for a softmax over classes, unscaled feature values, and feature ids as large as
//! hashing makes them. Ids are kept in a compact map, so memory follows the features a file
//! holds, not its largest id.

#![deny(clippy::arithmetic_side_effects)]

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::bow::Corpus;

/// Most classes a file may have (more are regression targets, or a mistake).
pub const MAX_CLASSES: usize = 1000;

/// A file's examples, with its feature ids and class labels.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// The examples: features as `(column, value)`, and a class.
    pub corpus: Corpus,
    /// The file's label of each class, classes in increasing order of label value.
    pub labels: Vec<String>,
}

/// A label's numeric value and the text it was first written as.
struct Label {
    value: f64,
    text: String,
}

/// The file's text, less a UTF-8 byte-order mark.
///
/// # Errors
/// The line of the first byte that is not UTF-8 (LIBSVM files are ASCII).
fn text_of<'a>(bytes: &'a [u8], name: &dyn std::fmt::Display) -> Result<&'a str> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count().saturating_add(1);
        anyhow::anyhow!("{name}:{line}: not UTF-8 text (a LIBSVM file is ASCII: `label index:value ...`)")
    })
}

/// Reads `path`. Every error names the file, and the line where one is at fault.
pub fn read(path: &Path) -> Result<Labelled> {
    let name = path.display();
    let bytes = super::saved::read_regular(path, None)?;
    let text = text_of(&bytes, &name)?;
    let mut columns: HashMap<u64, u32> = HashMap::new();
    let mut labels: Vec<Label> = Vec::new();
    let mut docs: Vec<(Vec<(u32, f32)>, usize)> = Vec::new();
    for (number, line) in (1u64..).zip(text.lines()) {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: String| anyhow!("{name}:{number}: {what}");
        let mut fields = line.split_whitespace();
        let label_text = fields.next().unwrap_or("");
        let value: f64 = label_text.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
            at(format!("expected a label (a number, such as +1, -1, 0 or 3), got {label_text:?}"))
        })?;
        let class = match labels.iter().position(|l| l.value == value) {
            Some(class) => class,
            None if labels.len() >= MAX_CLASSES => bail!(
                "{name}:{number}: more than {MAX_CLASSES} different labels; adamant train classifies, \
                 and labels that many are regression targets (not supported)"
            ),
            None => {
                labels.push(Label { value, text: label_text.trim_start_matches('+').to_string() });
                labels.len().saturating_sub(1)
            }
        };
        let mut features = Vec::new();
        for field in fields {
            let (id, value) =
                field.split_once(':').ok_or_else(|| at(format!("expected index:value, got {field:?}")))?;
            if id == "qid" {
                return Err(at("qid fields (ranking data) are not supported".into()));
            }
            let id: u64 = id.parse().map_err(|_| at(format!("expected a feature index, got {id:?}")))?;
            let value: f32 =
                value.parse().map_err(|_| at(format!("expected a feature value, got {value:?}")))?;
            if !value.is_finite() {
                return Err(at(format!("feature value {value} is not finite")));
            }
            let next = u32::try_from(columns.len())
                .map_err(|_| at(format!("more than {} different features", u32::MAX)))?;
            features.push((*columns.entry(id).or_insert(next), value));
        }
        docs.push((features, class));
    }
    if docs.is_empty() {
        bail!("{name}: no examples");
    }
    if labels.len() < 2 {
        bail!("{name}: every example has label {}; there is nothing to classify", labels[0].text);
    }
    // Classes in increasing label order, so that the positive class of two is the larger label.
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| labels[a].value.total_cmp(&labels[b].value));
    let mut class_of = vec![0; labels.len()];
    for (class, &first_seen) in order.iter().enumerate() {
        class_of[first_seen] = class;
    }
    for (_, class) in &mut docs {
        *class = class_of[*class];
    }
    let labels = order.iter().map(|&i| std::mem::take(&mut labels[i].text)).collect();
    let corpus = Corpus { vocab: columns.len(), classes: class_of.len(), docs };
    Ok(Labelled { corpus, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<Labelled> {
        let path =
            std::env::temp_dir().join(format!("adamant-libsvm-{}-{}.txt", std::process::id(), text.len()));
        std::fs::write(&path, text).unwrap();
        let read = read(&path);
        std::fs::remove_file(&path).unwrap();
        read
    }

    #[test]
    fn any_two_labels_are_two_classes_the_larger_positive() {
        for (a, b) in [("-1", "+1"), ("0", "1"), ("1", "2"), ("2", "4"), ("-1", "1")] {
            let file = read_text(&format!("{b} 1:1\n{a} 2:1\n{b} 3:0.5\n")).unwrap();
            assert_eq!(file.labels, [a.trim_start_matches('+'), b.trim_start_matches('+')]);
            let classes: Vec<usize> = file.corpus.docs.iter().map(|d| d.1).collect();
            assert_eq!((classes, file.corpus.classes), (vec![1, 0, 1], 2));
        }
        let three = read_text("3 1:1\n1 1:2\n2 1:3\n").unwrap();
        assert_eq!((three.corpus.classes, three.labels), (3, vec!["1".to_string(), "2".into(), "3".into()]));
    }

    #[test]
    fn hashed_feature_ids_take_the_memory_of_the_features_seen() {
        let file = read_text("1 3000000000:1 7:2\n0 18446744073709551615:1 7:1\n").unwrap();
        assert_eq!(file.corpus.vocab, 3);
        assert_eq!(file.corpus.docs[1].0, [(2, 1.0), (1, 1.0)]);
    }

    #[test]
    fn a_byte_order_mark_is_skipped_and_other_encodings_are_named() {
        let file = read_text("\u{feff}1 1:1\n0 2:1\n").unwrap();
        assert_eq!(file.labels, ["0", "1"]);
        let path = std::env::temp_dir().join(format!("adamant-latin1-{}.txt", std::process::id()));
        std::fs::write(&path, b"1 1:1\n0 2:1\n1 3:1 # caf\xe9\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(
            err.ends_with(":3: not UTF-8 text (a LIBSVM file is ASCII: `label index:value ...`)"),
            "{err}"
        );
    }

    #[test]
    fn faults_name_the_file_and_line() {
        let err = |text| read_text(text).unwrap_err().to_string();
        assert!(err("+1 3:1 7:0.5\n-1 2:1\n+1 4-2\n").ends_with(":3: expected index:value, got \"4-2\""));
        assert!(err("+1 3:1\nmaybe 2:1\n")
            .ends_with(":2: expected a label (a number, such as +1, -1, 0 or 3), got \"maybe\""));
        assert!(err("1 qid:3 1:1\n").ends_with(":1: qid fields (ranking data) are not supported"));
        assert!(err("1 1:inf\n").ends_with(":1: feature value inf is not finite"));
        assert!(err("1 1:1\n1 2:1\n").ends_with(": every example has label 1; there is nothing to classify"));
        assert!(err("# nothing\n").ends_with(": no examples"));
        assert!(err("1 1:1\n0 2:1\n1 3:\u{e9}\n").ends_with(":3: expected a feature value, got \"\u{e9}\""));
        let many: String = (0..=MAX_CLASSES).map(|i| format!("{i}.5 1:1\n")).collect();
        assert!(err(&many).contains("more than 1000 different labels"));
    }
}
