//! Which bodies may be near each other, found by sweep and prune instead of by testing
//! every pair: each body is a box around its bounding sphere, grown by what the caller
//! says it can move over a learned step (the graph grows every box; waking grows only the
//! mover's query). The boxes are sorted along the axis over which their centres spread
//! the most, and only boxes whose extents on that axis overlap are compared. Only
//! candidates come from here; the exact distance tests that decide stay with the callers,
//! so a graph built through this module is the graph the all-pairs loop built, edge for
//! edge and in the same order.
//!
//! A graph is built from scratch every learned step, so the search is too: sorting and
//! sweeping the boxes costs less than building parry's bounding-volume hierarchy and
//! querying it once per body, which is what this module did before (the README's Speed
//! section has `bench predict` before and after).

use rapier3d::math::Vector;
use rapier3d::parry::bounding_volume::{Aabb, BoundingVolume};

/// Slack on every box (m), so float rounding in the boxes never drops a pair that the
/// exact test would keep.
const SLACK: f32 = 1e-3;

/// Boxes around bodies, sorted along one axis.
pub struct Neighbours {
    boxes: Vec<Aabb>,
    /// The sweep axis: the one over which the boxes' centres spread the most.
    axis: usize,
    /// Body indices by their box's lower bound on the sweep axis.
    order: Vec<u32>,
    /// The widest box on the sweep axis.
    widest: f32,
}

impl Neighbours {
    /// A cube of half-width `half_widths[i]` about `centers[i]` for every body `i`.
    pub fn new(centers: &[Vector], half_widths: &[f32]) -> Neighbours {
        let boxes: Vec<Aabb> = centers
            .iter()
            .zip(half_widths)
            .map(|(c, r)| cube(*c, *r))
            .collect();
        let spread = |k: usize| {
            let (lo, hi) = boxes.iter().fold((f32::MAX, f32::MIN), |(lo, hi), b| {
                let c = 0.5 * (b.mins[k] + b.maxs[k]);
                (lo.min(c), hi.max(c))
            });
            hi - lo
        };
        let axis = (0..3)
            .max_by(|a, b| spread(*a).total_cmp(&spread(*b)))
            .unwrap_or(0);
        let mut order: Vec<u32> = (0..boxes.len() as u32).collect();
        order.sort_unstable_by(|a, b| {
            boxes[*a as usize].mins[axis].total_cmp(&boxes[*b as usize].mins[axis])
        });
        let widest = boxes
            .iter()
            .map(|b| b.maxs[axis] - b.mins[axis])
            .fold(0.0, f32::max);
        Neighbours {
            boxes,
            axis,
            order,
            widest,
        }
    }

    /// Every pair `(i, j)`, `i < j`, whose boxes overlap, in ascending order (the order of
    /// a loop over `i`, then `j > i`).
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        let k = self.axis;
        let mut out = Vec::new();
        for (a, &i) in self.order.iter().enumerate() {
            let bi = &self.boxes[i as usize];
            for &j in &self.order[a + 1..] {
                let bj = &self.boxes[j as usize];
                if bj.mins[k] > bi.maxs[k] {
                    break;
                }
                if bi.intersects(bj) {
                    let (i, j) = (i as usize, j as usize);
                    out.push((i.min(j), i.max(j)));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Every body whose box overlaps a cube of half-width `half_width` about `center`,
    /// in ascending order.
    pub fn near(&self, center: Vector, half_width: f32) -> Vec<usize> {
        let query = cube(center, half_width);
        let k = self.axis;
        // Boxes that can reach the query start within the widest box of its lower bound,
        // and no later than its upper bound.
        let lo = query.mins[k] - self.widest - SLACK;
        let first = self
            .order
            .partition_point(|&j| self.boxes[j as usize].mins[k] < lo);
        let mut out: Vec<usize> = self.order[first..]
            .iter()
            .take_while(|&&j| self.boxes[j as usize].mins[k] <= query.maxs[k])
            .filter(|&&j| self.boxes[j as usize].intersects(&query))
            .map(|&j| j as usize)
            .collect();
        out.sort_unstable();
        out
    }
}

/// A cube of half-width `r` (plus the slack) about `c`; a body whose place or reach is not
/// finite gets a box over everything, so the exact test still sees it as before.
fn cube(c: Vector, r: f32) -> Aabb {
    if c.is_finite() && r.is_finite() {
        Aabb::from_half_extents(c, Vector::splat(r.max(0.0) + SLACK))
    } else {
        Aabb::from_half_extents(Vector::ZERO, Vector::splat(1e30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::ChaCha8Rng;
    use rand::{RngExt, SeedableRng};

    /// The sweep finds every pair whose spheres come within the sum of their reaches,
    /// which is what the callers' exact tests need; boxes only add candidates.
    #[test]
    fn every_close_pair_is_a_candidate() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in [0, 1, 2, 7, 60, 300] {
            let centers: Vec<Vector> = (0..n)
                .map(|_| {
                    Vector::new(
                        rng.random_range(-3.0..3.0),
                        rng.random_range(0.0..2.0),
                        rng.random_range(-3.0..3.0),
                    )
                })
                .collect();
            let widths: Vec<f32> = (0..n).map(|_| rng.random_range(0.0..0.4)).collect();
            let neighbours = Neighbours::new(&centers, &widths);
            let found = neighbours.pairs();
            let mut want = Vec::new();
            for i in 0..n {
                for j in i + 1..n {
                    if centers[i].distance(centers[j]) <= widths[i] + widths[j] {
                        want.push((i, j));
                    }
                }
            }
            assert!(
                found.windows(2).all(|w| w[0] < w[1]),
                "pairs sorted, no repeats"
            );
            for p in &want {
                assert!(found.binary_search(p).is_ok(), "{n} bodies: missed {p:?}");
            }
            // Exactly the pairs whose boxes overlap, as testing every pair finds them.
            let boxes: Vec<Aabb> = centers
                .iter()
                .zip(&widths)
                .map(|(c, r)| cube(*c, *r))
                .collect();
            let every: Vec<(usize, usize)> = (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .filter(|&(i, j)| boxes[i].intersects(&boxes[j]))
                .collect();
            assert_eq!(found, every, "{n} bodies");
            // Boxes, not spheres: a few more candidates, but not every pair.
            if n == 300 {
                assert!(
                    found.len() < 2 * want.len() + 10,
                    "{} against {}",
                    found.len(),
                    want.len()
                );
            }
            for (i, c) in centers.iter().enumerate() {
                let near = neighbours.near(*c, 0.2);
                let query = cube(*c, 0.2);
                let every: Vec<usize> = (0..n).filter(|&j| boxes[j].intersects(&query)).collect();
                assert_eq!(near, every, "{n} bodies, near body {i}");
                for j in 0..n {
                    if centers[j].distance(*c) <= widths[j] + 0.2 {
                        assert!(near.contains(&j), "body {j} not near body {i}");
                    }
                }
            }
        }
    }

    /// A body whose place is not finite is a candidate with every other body (the exact
    /// tests then decide, as they did for every pair before), and the others' pairs are
    /// still found.
    #[test]
    fn a_body_out_of_bounds_pairs_with_everything() {
        let centers = [
            Vector::new(0.0, 0.0, 0.0),
            Vector::new(0.1, 0.0, 0.0),
            Vector::new(f32::NAN, 0.0, 0.0),
            Vector::new(50.0, 0.0, 0.0),
        ];
        let widths = [0.1, 0.1, 0.1, f32::INFINITY];
        let pairs = Neighbours::new(&centers, &widths).pairs();
        for p in [(0, 1), (0, 2), (1, 2), (2, 3), (0, 3), (1, 3)] {
            assert!(pairs.contains(&p), "missing {p:?} in {pairs:?}");
        }
    }
}
