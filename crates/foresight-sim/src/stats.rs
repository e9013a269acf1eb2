//! Order statistics of measured values (times, errors): one percentile rule for every
//! benchmark, report and plot.

use std::cmp::Ordering;

/// The `p`-quantile (`0.0..=1.0`) of `values`, the nearest rank (`round((n - 1) * p)`
/// of the sorted values); `None` when there are none.
pub fn percentile<T: Copy + PartialOrd>(values: &[T], p: f64) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    let rank = ((v.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize;
    Some(v[rank])
}

/// The median of `values` (the upper one of an even count); `None` when there are none.
pub fn median<T: Copy + PartialOrd>(values: &[T]) -> Option<T> {
    percentile(values, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_upper_middle_and_percentiles_round_to_the_nearest_rank() {
        assert_eq!(median::<f64>(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4, 1, 3, 2]), Some(3));
        assert_eq!(percentile(&[1.0f32, 2.0, 3.0, 4.0, 5.0], 0.95), Some(5.0));
        assert_eq!(percentile(&[5, 1, 9], 0.0), Some(1));
    }
}
