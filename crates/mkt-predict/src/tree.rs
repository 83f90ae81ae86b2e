//! One regression tree of the ensemble, as stored and as served: splits on raw values, so serving
//! needs no bins.

use crate::features::{Value, MISSING};

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Left when the value is <= the threshold.
    Threshold(f64),
    /// Left when the category code is in `left` (sorted), right when it is in `right`; any other
    /// code (missing, rare or unseen) follows the missing direction.
    Categories { left: Vec<u32>, right: Vec<u32> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Split {
        feature: u32,
        rule: Rule,
        missing_left: bool,
        left: u32,
        right: u32,
        gain: f64,
        /// Training rows that reached the node (the weights of TreeSHAP's expectations).
        count: f64,
    },
    Leaf {
        value: f64,
        count: f64,
    },
}

impl Node {
    pub fn count(&self) -> f64 {
        match self {
            Node::Split { count, .. } | Node::Leaf { count, .. } => *count,
        }
    }
}

/// Whether a value goes to the left child of a split.
pub fn goes_left(rule: &Rule, missing_left: bool, v: Value) -> bool {
    match (rule, v) {
        (Rule::Threshold(t), Value::Number(x)) => {
            if x.is_nan() {
                missing_left
            } else {
                x <= *t
            }
        }
        (Rule::Categories { left, right }, Value::Code(c)) => {
            if c != MISSING && left.binary_search(&c).is_ok() {
                true
            } else if c != MISSING && right.binary_search(&c).is_ok() {
                false
            } else {
                missing_left
            }
        }
        // A value of the other kind than the split expects reads as missing.
        _ => missing_left,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    /// Node 0 is the root.
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn leaf_of(&self, x: &[Value]) -> usize {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Leaf { .. } => return i,
                Node::Split {
                    feature,
                    rule,
                    missing_left,
                    left,
                    right,
                    ..
                } => {
                    i = if goes_left(rule, *missing_left, x[*feature as usize]) {
                        *left
                    } else {
                        *right
                    } as usize;
                }
            }
        }
    }

    pub fn predict(&self, x: &[Value]) -> f64 {
        match self.nodes[self.leaf_of(x)] {
            Node::Leaf { value, .. } => value,
            Node::Split { .. } => unreachable!("leaf_of returns a leaf"),
        }
    }

    /// The mean output over the training rows (each leaf weighted by the rows that reached it).
    pub fn expected_value(&self) -> f64 {
        let root = self.nodes[0].count();
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Leaf { value, count } if root > 0.0 => Some(value * count / root),
                _ => None,
            })
            .sum()
    }

    pub fn depth(&self) -> usize {
        fn d(t: &Tree, i: usize) -> usize {
            match &t.nodes[i] {
                Node::Leaf { .. } => 0,
                Node::Split { left, right, .. } => {
                    1 + d(t, *left as usize).max(d(t, *right as usize))
                }
            }
        }
        d(self, 0)
    }
}
