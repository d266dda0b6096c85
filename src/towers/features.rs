//! Side features of one side (users or items): `(entity, feature, value)`
//! triplets with string ids and string feature names, and a small CSV reader.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::data::IdMap;
use crate::error::{Error, Result};

/// The sparse feature vectors of one side: entity `e` has value `v` for the
/// feature named `f`. Built with [`Features::builder`] or read with
/// [`Features::read_csv`]. Duplicate `(entity, feature)` pairs are summed;
/// zero values are dropped.
#[derive(Clone, Debug, Default)]
pub struct Features {
    pub(crate) entities: IdMap,
    pub(crate) names: IdMap,
    pub(crate) triplets: Vec<(u32, u32, f32)>,
}

/// Collects `(entity, feature, value)` triplets into [`Features`].
#[derive(Clone, Debug)]
pub struct FeaturesBuilder {
    side: &'static str,
    f: Features,
}

impl FeaturesBuilder {
    /// Add one feature value of one entity. Values must be finite (they may
    /// be negative, e.g. a standardized age); zeros are dropped.
    pub fn push(&mut self, entity: &str, feature: &str, value: f32) -> Result<()> {
        if !value.is_finite() {
            return Err(Error::InvalidFeatureValue {
                side: self.side,
                entity: entity.to_owned(),
                feature: feature.to_owned(),
                value,
            });
        }
        let e = self.f.entities.get_or_insert(entity, self.side)?;
        if value == 0.0 {
            return Ok(());
        }
        let j = self.f.names.get_or_insert(feature, "feature")?;
        self.f.triplets.push((e, j, value));
        Ok(())
    }

    /// Number of triplets pushed so far (zeros excluded).
    pub fn len(&self) -> usize {
        self.f.triplets.len()
    }

    /// True when no non-zero value was pushed.
    pub fn is_empty(&self) -> bool {
        self.f.triplets.is_empty()
    }

    /// The features.
    pub fn build(self) -> Features {
        self.f
    }
}

impl Features {
    /// The ids of the entities with at least one (non-zero) feature value.
    pub fn described(&self) -> std::collections::HashSet<&str> {
        self.triplets
            .iter()
            .map(|t| self.entities.id(t.0))
            .collect()
    }

    /// A builder for the features of `side` (`"user"` or `"item"`, used in
    /// error messages).
    pub fn builder(side: &'static str) -> FeaturesBuilder {
        FeaturesBuilder {
            side,
            f: Features::default(),
        }
    }

    /// The entities that have at least one feature line, in order of first
    /// appearance.
    pub fn entities(&self) -> &IdMap {
        &self.entities
    }

    /// The feature names, in order of first appearance.
    pub fn names(&self) -> &IdMap {
        &self.names
    }

    /// Number of (non-zero) triplets, before duplicates are summed.
    pub fn len(&self) -> usize {
        self.triplets.len()
    }

    /// True when there is no non-zero feature value.
    pub fn is_empty(&self) -> bool {
        self.triplets.is_empty()
    }

    /// `(entity index, feature index, value)` in the order given.
    pub fn triplets(&self) -> &[(u32, u32, f32)] {
        &self.triplets
    }

    /// Read a feature file: one `entity,feature[,value]` line per feature
    /// value (value 1 when omitted). Blank lines and lines starting with `#`
    /// are skipped; an optional header line `entity,feature[,value]` (or with
    /// `user`/`item`/`id` for `entity`) is skipped. Fields are trimmed;
    /// quoted fields are not supported (a field may not contain a comma).
    /// Errors name the file and the line.
    pub fn read_csv(path: impl AsRef<Path>, side: &'static str) -> Result<Features> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Self::from_reader(file, path, side)
    }

    /// [`Features::read_csv`] from any reader; `path` is only used in errors.
    pub fn from_reader(
        reader: impl Read,
        path: impl AsRef<Path>,
        side: &'static str,
    ) -> Result<Features> {
        let path = path.as_ref();
        let parse = |line: u64, message: String| Error::Parse {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut b = Features::builder(side);
        let mut reader = BufReader::new(reader);
        let mut buf = String::new();
        let mut line_no = 0u64;
        let mut data_lines = 0usize;
        let mut seen_line = false;
        loop {
            buf.clear();
            let read = reader.read_line(&mut buf).map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => {
                    parse(line_no + 1, String::from("the line is not valid UTF-8"))
                }
                _ => Error::io(path, e),
            })?;
            if read == 0 {
                break;
            }
            line_no += 1;
            let mut line = buf.trim_end_matches(['\n', '\r']).trim();
            if line_no == 1 {
                line = crate::data::read::strip_bom(line).trim();
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.contains('"') {
                return Err(parse(
                    line_no,
                    String::from("quoted fields are not supported: use entity,feature[,value] with no commas or quotes inside fields"),
                ));
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let first = !seen_line;
            seen_line = true;
            if first && is_header(&fields) {
                continue;
            }
            if !(2..=3).contains(&fields.len()) {
                return Err(parse(
                    line_no,
                    format!(
                        "expected 2 or 3 comma-separated fields (entity,feature[,value]), got {}",
                        fields.len()
                    ),
                ));
            }
            let (entity, feature) = (fields[0], fields[1]);
            if entity.is_empty() {
                return Err(parse(line_no, String::from("empty entity id")));
            }
            if feature.is_empty() {
                return Err(parse(line_no, String::from("empty feature name")));
            }
            let value = match fields.get(2) {
                None => 1.0,
                Some(v) => match v.parse::<f32>() {
                    Ok(x) if x.is_finite() => x,
                    _ => {
                        return Err(parse(
                            line_no,
                            format!(
                                "feature value {} is not a finite number",
                                crate::data::read::shown(v)
                            ),
                        ))
                    }
                },
            };
            b.push(entity, feature, value).map_err(|e| match e {
                Error::TooManyIds(what) => parse(line_no, format!("too many distinct {what} ids")),
                other => other,
            })?;
            data_lines += 1;
        }
        if data_lines == 0 {
            return Err(Error::EmptyInput {
                path: path.to_path_buf(),
            });
        }
        Ok(b.build())
    }
}

fn is_header(fields: &[&str]) -> bool {
    let lower: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
    let first_ok = matches!(
        lower.first().map(String::as_str),
        Some("entity" | "user" | "item" | "id" | "user_id" | "item_id")
    );
    let second_ok = lower.get(1).map(String::as_str) == Some("feature");
    let third_ok = matches!(lower.get(2).map(String::as_str), None | Some("value"));
    fields.len() <= 3 && first_ok && second_ok && third_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_optional_header_values_and_comments() {
        let text = "entity,feature,value\n# comment\n\na,red\r\nb, big ,2.5\na,red,1\n";
        let f = Features::from_reader(text.as_bytes(), "f.csv", "item").unwrap();
        assert_eq!(f.entities().ids(), ["a", "b"]);
        assert_eq!(f.names().ids(), ["red", "big"]);
        assert_eq!(f.triplets(), &[(0, 0, 1.0), (1, 1, 2.5), (0, 0, 1.0)]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            ("a,red\nb\n", 2, "expected 2 or 3"),
            ("a,red\nb,big,x\n", 2, "not a finite number"),
            ("a,red\nb,big,inf\n", 2, "not a finite number"),
            ("a,b,1,2\n", 1, "got 4"),
            (",red\n", 1, "empty entity"),
            ("a,\n", 1, "empty feature"),
            ("\"a,b\",c\n", 1, "quoted"),
        ];
        for (text, line, msg) in cases {
            let err = Features::from_reader(text.as_bytes(), "feat.csv", "user").unwrap_err();
            match &err {
                Error::Parse {
                    path,
                    line: l,
                    message,
                } => {
                    assert_eq!(path.to_str(), Some("feat.csv"));
                    assert_eq!(*l, line, "{text:?}: {err}");
                    assert!(message.contains(msg), "{text:?}: {err}");
                }
                other => panic!("{text:?}: unexpected {other:?}"),
            }
            assert!(err.to_string().contains(&format!("feat.csv: line {line}")));
        }
    }

    #[test]
    fn empty_file_is_an_error() {
        let err = Features::from_reader("# nothing\nentity,feature\n".as_bytes(), "e.csv", "user")
            .unwrap_err();
        assert!(matches!(err, Error::EmptyInput { .. }), "{err:?}");
    }

    #[test]
    fn non_finite_value_is_typed() {
        let mut b = Features::builder("item");
        let err = b.push("x", "f", f32::NAN).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidFeatureValue { side: "item", .. }
        ));
    }
}
