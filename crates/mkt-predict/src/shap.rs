//! Exact per-feature contributions of tree ensembles (TreeSHAP, Lundberg, Erion and Lee 2018,
//! Algorithm 2). For a row x, each feature's Shapley value of the function
//!   f_S(x) = expected tree output given the features in S, the others averaged over the training
//!   rows that reached each split,
//! computed in polynomial time by following all paths while tracking the fraction of feature
//! subsets that flow down each one. The contributions plus the expected output sum to the raw
//! score exactly.

use crate::features::Value;
use crate::tree::{goes_left, Node, Tree};

/// The fractions of subsets without (`zero`) and with (`one`) the feature that take this branch.
#[derive(Debug, Clone, Copy)]
struct Step {
    zero: f64,
    one: f64,
    feature: i64,
}

#[derive(Debug, Clone, Copy)]
struct PathElem {
    feature: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

fn extend(path: &mut Vec<PathElem>, step: Step) {
    let l = path.len();
    let Step { zero, one, feature } = step;
    path.push(PathElem {
        feature,
        zero,
        one,
        weight: if l == 0 { 1.0 } else { 0.0 },
    });
    for i in (0..l).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (l + 1) as f64;
        path[i].weight = zero * path[i].weight * (l - i) as f64 / (l + 1) as f64;
    }
}

fn unwind(path: &mut Vec<PathElem>, i: usize) {
    let l = path.len() - 1;
    let (one, zero) = (path[i].one, path[i].zero);
    let mut n = path[l].weight;
    for j in (0..l).rev() {
        if one != 0.0 {
            let t = path[j].weight;
            path[j].weight = n * (l + 1) as f64 / ((j + 1) as f64 * one);
            n = t - path[j].weight * zero * (l - j) as f64 / (l + 1) as f64;
        } else {
            path[j].weight = path[j].weight * (l + 1) as f64 / (zero * (l - j) as f64);
        }
    }
    for j in i..l {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
    path.pop();
}

/// The total weight left after unwinding element i (without changing the path).
fn unwound_sum(path: &[PathElem], i: usize) -> f64 {
    let mut p = path.to_vec();
    unwind(&mut p, i);
    p.iter().map(|e| e.weight).sum()
}

fn recurse(
    tree: &Tree,
    x: &[Value],
    phi: &mut [f64],
    j: usize,
    mut path: Vec<PathElem>,
    step: Step,
) {
    extend(&mut path, step);
    match &tree.nodes[j] {
        Node::Leaf { value, .. } => {
            for i in 1..path.len() {
                let w = unwound_sum(&path, i);
                let e = path[i];
                phi[e.feature as usize] += w * (e.one - e.zero) * value;
            }
        }
        Node::Split {
            feature: f,
            rule,
            missing_left,
            left,
            right,
            count,
            ..
        } => {
            let (hot, cold) = if goes_left(rule, *missing_left, x[*f as usize]) {
                (*left, *right)
            } else {
                (*right, *left)
            };
            let (mut iz, mut io) = (1.0, 1.0);
            if let Some(k) = path.iter().position(|e| e.feature == *f as i64) {
                iz = path[k].zero;
                io = path[k].one;
                unwind(&mut path, k);
            }
            let share = |c: u32| {
                if *count > 0.0 {
                    tree.nodes[c as usize].count() / count
                } else {
                    0.0
                }
            };
            let feature = *f as i64;
            recurse(
                tree,
                x,
                phi,
                hot as usize,
                path.clone(),
                Step {
                    zero: iz * share(hot),
                    one: io,
                    feature,
                },
            );
            recurse(
                tree,
                x,
                phi,
                cold as usize,
                path,
                Step {
                    zero: iz * share(cold),
                    one: 0.0,
                    feature,
                },
            );
        }
    }
}

/// Adds the tree's contribution of each feature for row `x` to `phi` (one slot per feature).
pub fn add_contributions(tree: &Tree, x: &[Value], phi: &mut [f64]) {
    recurse(
        tree,
        x,
        phi,
        0,
        Vec::new(),
        Step {
            zero: 1.0,
            one: 1.0,
            feature: -1,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Rule;

    fn split(feature: u32, t: f64, left: u32, right: u32, count: f64) -> Node {
        Node::Split {
            feature,
            rule: Rule::Threshold(t),
            missing_left: false,
            left,
            right,
            gain: 1.0,
            count,
        }
    }

    fn leaf(value: f64, count: f64) -> Node {
        Node::Leaf { value, count }
    }

    /// f_S(x) by its definition: follow x on features in S, average by counts elsewhere.
    fn conditional(tree: &Tree, x: &[Value], s: u32, j: usize) -> f64 {
        match &tree.nodes[j] {
            Node::Leaf { value, .. } => *value,
            Node::Split {
                feature,
                rule,
                missing_left,
                left,
                right,
                count,
                ..
            } => {
                if s & (1 << feature) != 0 {
                    let next = if goes_left(rule, *missing_left, x[*feature as usize]) {
                        left
                    } else {
                        right
                    };
                    conditional(tree, x, s, *next as usize)
                } else {
                    let (l, r) = (*left as usize, *right as usize);
                    (tree.nodes[l].count() * conditional(tree, x, s, l)
                        + tree.nodes[r].count() * conditional(tree, x, s, r))
                        / count
                }
            }
        }
    }

    fn brute_force(tree: &Tree, x: &[Value], m: usize) -> Vec<f64> {
        let fact = |n: usize| (1..=n).map(|v| v as f64).product::<f64>();
        let mut phi = vec![0.0; m];
        for (i, p) in phi.iter_mut().enumerate() {
            for s in 0u32..(1 << m) {
                if s & (1 << i) != 0 {
                    continue;
                }
                let k = s.count_ones() as usize;
                let w = fact(k) * fact(m - k - 1) / fact(m);
                *p += w * (conditional(tree, x, s | (1 << i), 0) - conditional(tree, x, s, 0));
            }
        }
        phi
    }

    #[test]
    fn contributions_equal_brute_force_shapley_values_and_sum_to_the_output() {
        // Feature 0 splits twice on one path, feature 2 never: the cases the path bookkeeping must get right.
        let tree = Tree {
            nodes: vec![
                split(0, 0.5, 1, 2, 100.0),
                split(1, 1.0, 3, 4, 60.0),
                split(0, 2.0, 5, 6, 40.0),
                leaf(1.5, 25.0),
                split(0, 0.2, 7, 8, 35.0),
                leaf(-2.0, 10.0),
                leaf(0.25, 30.0),
                leaf(3.0, 5.0),
                leaf(-0.5, 30.0),
            ],
        };
        for x in [
            [0.1, 0.5, 9.0],
            [0.3, 2.0, 0.0],
            [1.0, 0.0, 0.0],
            [5.0, 5.0, 5.0],
            [0.4, 1.5, 1.0],
        ] {
            let xv: Vec<Value> = x.iter().map(|&v| Value::Number(v)).collect();
            let mut phi = vec![0.0; 3];
            add_contributions(&tree, &xv, &mut phi);
            let exact = brute_force(&tree, &xv, 3);
            for (a, b) in phi.iter().zip(&exact) {
                assert!((a - b).abs() < 1e-12, "{x:?}: {phi:?} vs {exact:?}");
            }
            assert_eq!(phi[2], 0.0);
            let total: f64 = phi.iter().sum::<f64>() + tree.expected_value();
            assert!((total - tree.predict(&xv)).abs() < 1e-12);
        }
    }
}
