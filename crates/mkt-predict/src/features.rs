//! The feature table a model trains on and scores: named columns, numeric (NaN = missing) or
//! categorical (codes into a list of levels, `MISSING` = missing or a level never seen).

pub const MISSING: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Numeric(Vec<f64>),
    Categorical {
        codes: Vec<u32>,
        levels: Vec<String>,
    },
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Categorical { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows at `idx`, in that order.
    pub fn take(&self, idx: &[usize]) -> Column {
        match self {
            Column::Numeric(v) => Column::Numeric(idx.iter().map(|&i| v[i]).collect()),
            Column::Categorical { codes, levels } => Column::Categorical {
                codes: idx.iter().map(|&i| codes[i]).collect(),
                levels: levels.clone(),
            },
        }
    }

    /// The value of row `i` as the trees read it: a number, or a category code as a number.
    pub fn value(&self, i: usize) -> Value {
        match self {
            Column::Numeric(v) => Value::Number(v[i]),
            Column::Categorical { codes, .. } => Value::Code(codes[i]),
        }
    }
}

/// One cell of a feature row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Number(f64),
    Code(u32),
}

impl Value {
    pub fn is_missing(self) -> bool {
        match self {
            Value::Number(v) => v.is_nan(),
            Value::Code(c) => c == MISSING,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub names: Vec<String>,
    pub columns: Vec<Column>,
}

impl Features {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    pub fn row(&self, i: usize) -> Vec<Value> {
        self.columns.iter().map(|c| c.value(i)).collect()
    }

    /// The rows at `idx`, in that order (training and validation parts of one table).
    pub fn take(&self, idx: &[usize]) -> Features {
        Features {
            names: self.names.clone(),
            columns: self.columns.iter().map(|c| c.take(idx)).collect(),
        }
    }
}

/// A category's code among sorted levels; MISSING for no value or a level not among them.
pub fn code_of(levels: &[String], v: Option<&str>) -> u32 {
    v.and_then(|s| levels.binary_search_by(|l| l.as_str().cmp(s)).ok())
        .map_or(MISSING, |i| i as u32)
}

/// A row coded for one schema, coded for another (an older version of a model): features matched
/// by name, categories by level; what the other schema lacks is missing.
pub fn recode(row: &[Value], from: &Features, to: &Features) -> Vec<Value> {
    to.names
        .iter()
        .zip(&to.columns)
        .map(|(name, col)| {
            let found = from.names.iter().position(|n| n == name);
            match (col, found.map(|i| (&from.columns[i], row[i]))) {
                (
                    Column::Categorical {
                        levels: to_levels, ..
                    },
                    Some((Column::Categorical { levels, .. }, Value::Code(c))),
                ) => {
                    let level = if c == MISSING {
                        None
                    } else {
                        levels.get(c as usize)
                    };
                    Value::Code(code_of(to_levels, level.map(String::as_str)))
                }
                (Column::Numeric(_), Some((_, Value::Number(x)))) => Value::Number(x),
                (Column::Numeric(_), _) => Value::Number(f64::NAN),
                (Column::Categorical { .. }, _) => Value::Code(MISSING),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_recode_by_feature_name_and_level() {
        let levels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let from = Features {
            names: vec!["c".into(), "x".into(), "gone".into()],
            columns: vec![
                Column::Categorical {
                    codes: vec![],
                    levels: levels(&["a", "b", "c"]),
                },
                Column::Numeric(vec![]),
                Column::Numeric(vec![]),
            ],
        };
        let to = Features {
            names: vec!["x".into(), "c".into(), "new".into()],
            columns: vec![
                Column::Numeric(vec![]),
                Column::Categorical {
                    codes: vec![],
                    levels: levels(&["b", "c"]),
                },
                Column::Categorical {
                    codes: vec![],
                    levels: levels(&["z"]),
                },
            ],
        };
        let row = [Value::Code(2), Value::Number(1.5), Value::Number(9.0)];
        assert_eq!(
            recode(&row, &from, &to),
            vec![Value::Number(1.5), Value::Code(1), Value::Code(MISSING)]
        );
        // A level the other schema lacks is missing.
        let row = [Value::Code(0), Value::Number(f64::NAN), Value::Number(0.0)];
        let out = recode(&row, &from, &to);
        assert!(matches!(out[0], Value::Number(x) if x.is_nan()));
        assert_eq!(out[1], Value::Code(MISSING));
        assert_eq!(code_of(&levels(&["a", "b"]), Some("b")), 1);
        assert_eq!(code_of(&levels(&["a", "b"]), None), MISSING);
    }
}
