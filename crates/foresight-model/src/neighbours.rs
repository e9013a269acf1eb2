//! Which bodies may be near each other, found through parry's bounding-volume hierarchy
//! instead of by testing every pair: each body is a box around its bounding sphere, grown
//! by what the caller says it can move over a learned step (the graph grows every box;
//! waking grows only the mover's query). Only candidates come from here; the exact
//! distance tests that decide stay with the callers, so a graph built through this module
//! is the graph the all-pairs loop built, edge for edge and in the same order.

use rapier3d::math::Vector;
use rapier3d::parry::bounding_volume::Aabb;
use rapier3d::parry::partitioning::{Bvh, BvhBuildStrategy};

/// Slack on every box (m), so float rounding in the boxes never drops a pair that the
/// exact test would keep.
const SLACK: f32 = 1e-3;

/// Boxes around bodies, in a bounding-volume hierarchy.
pub struct Neighbours {
    bvh: Bvh,
    boxes: Vec<Aabb>,
}

impl Neighbours {
    /// A cube of half-width `half_widths[i]` about `centers[i]` for every body `i`.
    pub fn new(centers: &[Vector], half_widths: &[f32]) -> Neighbours {
        let boxes: Vec<Aabb> = centers
            .iter()
            .zip(half_widths)
            .map(|(c, r)| cube(*c, *r))
            .collect();
        Neighbours {
            bvh: Bvh::from_leaves(BvhBuildStrategy::Binned, &boxes),
            boxes,
        }
    }

    /// Every pair `(i, j)`, `i < j`, whose boxes overlap, in ascending order (the order of
    /// a loop over `i`, then `j > i`).
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = self
            .boxes
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                self.bvh
                    .intersect_aabb(b)
                    .map(|j| j as usize)
                    .filter(move |&j| j > i)
                    .map(move |j| (i, j))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Every body whose box overlaps a cube of half-width `half_width` about `center`.
    pub fn near(&self, center: Vector, half_width: f32) -> Vec<usize> {
        let query = cube(center, half_width);
        self.bvh
            .intersect_aabb(&query)
            .map(|j| j as usize)
            .collect()
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

    /// The hierarchy finds every pair whose spheres come within the sum of their reaches,
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
