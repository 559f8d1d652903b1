//! Measures the end-to-end tests and the benchmarks both take of what receivers got.

use std::time::{Duration, Instant};

/// The most of these times that fall within any span shorter than `window`.
pub fn most_within(mut times: Vec<Instant>, window: Duration) -> usize {
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_fullest_window() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let times = vec![at(0), at(100), at(900), at(1000), at(1500), at(1600)];
        assert_eq!(most_within(times.clone(), Duration::from_secs(1)), 4);
        assert_eq!(most_within(times, Duration::from_millis(100)), 1);
        assert_eq!(most_within(Vec::new(), Duration::from_secs(1)), 0);
    }
}
