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
        let columns = self
            .columns
            .iter()
            .map(|c| match c {
                Column::Numeric(v) => Column::Numeric(idx.iter().map(|&i| v[i]).collect()),
                Column::Categorical { codes, levels } => Column::Categorical {
                    codes: idx.iter().map(|&i| codes[i]).collect(),
                    levels: levels.clone(),
                },
            })
            .collect();
        Features {
            names: self.names.clone(),
            columns,
        }
    }
}
