//! The portal's charts, drawn server-side as SVG: deliveries per hour by outcome, p50/p95
//! attempt duration, and the list's 24-hour success-rate sparkline. Pure: samples in,
//! markup out. Colours are SVG attributes, not styles, so the strict CSP allows them.

use chrono::{DateTime, Duration, DurationRound, Utc};
use hookline_shared::{
    delivery::outcome::DeliveryState,
    store::{AttemptSample, StoreError},
};
use maud::{html, Markup};

/// One hour of attempts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bucket {
    pub start: Option<DateTime<Utc>>,
    pub succeeded: u32,
    pub retrying: u32,
    pub failed: u32,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

impl Bucket {
    pub fn total(&self) -> u32 {
        self.succeeded + self.retrying + self.failed
    }

    /// The share of attempts that succeeded, if there were any.
    pub fn success_rate(&self) -> Option<f64> {
        (self.total() > 0).then(|| f64::from(self.succeeded) / f64::from(self.total()))
    }
}

/// The nearest-rank percentile `p` (0 to 100) of sorted values.
pub fn percentile(sorted: &[u64], p: u32) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// `hours` hourly buckets ending with the hour of `now`, oldest first.
/// The buckets of samples as the store read them; its error is logged and passed on, never
/// drawn as an empty chart.
pub fn read(
    samples: Result<Vec<AttemptSample>, StoreError>,
    now: DateTime<Utc>,
    hours: u32,
) -> Result<Vec<Bucket>, StoreError> {
    match samples {
        Ok(samples) => Ok(hourly(&samples, now, hours)),
        Err(e) => {
            tracing::error!(error = %e, "could not read a webhook's attempts for its chart");
            Err(e)
        }
    }
}

pub fn hourly(samples: &[AttemptSample], now: DateTime<Utc>, hours: u32) -> Vec<Bucket> {
    let hours = hours.max(1);
    let last = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let first = last - Duration::hours(i64::from(hours) - 1);
    let mut durations: Vec<Vec<u64>> = vec![Vec::new(); hours as usize];
    let mut buckets: Vec<Bucket> = (0..hours)
        .map(|i| Bucket {
            start: Some(first + Duration::hours(i64::from(i))),
            ..Bucket::default()
        })
        .collect();
    for s in samples {
        let Ok(index) = usize::try_from((s.timestamp - first).num_hours()) else {
            continue;
        };
        if s.timestamp < first || index >= buckets.len() {
            continue;
        }
        let b = &mut buckets[index];
        match s.state {
            DeliveryState::Succeeded => b.succeeded += 1,
            DeliveryState::Failed => b.failed += 1,
            _ => b.retrying += 1,
        }
        durations[index].push(s.duration_ms);
    }
    for (b, mut d) in buckets.iter_mut().zip(durations) {
        d.sort_unstable();
        b.p50_ms = percentile(&d, 50);
        b.p95_ms = percentile(&d, 95);
    }
    buckets
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;
const GREEN: &str = "#2f9e44";
const AMBER: &str = "#f08c00";
const RED: &str = "#e03131";

/// An SVG `points` attribute.
fn points_attr(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stacked bars of attempts per hour (succeeded, retrying, failed).
pub fn outcomes(buckets: &[Bucket]) -> Markup {
    let peak = buckets.iter().map(Bucket::total).max().unwrap_or(0).max(1);
    let slot = WIDTH / buckets.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let scale = |n: u32| f64::from(n) / f64::from(peak) * (HEIGHT - 20.0);
    html! {
        svg class="chart" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label="Attempts per hour by outcome" {
            title { "Attempts per hour: succeeded, retrying, failed (peak " (peak) ")" }
            @for (i, b) in buckets.iter().enumerate() {
                @let x = i as f64 * slot;
                @let (ok, retry, fail) = (scale(b.succeeded), scale(b.retrying), scale(b.failed));
                @if b.succeeded > 0 {
                    rect x=(x) y=(HEIGHT - ok) width=(bar) height=(ok) fill=(GREEN) {
                        title { (label(b)) }
                    }
                }
                @if b.retrying > 0 {
                    rect x=(x) y=(HEIGHT - ok - retry) width=(bar) height=(retry) fill=(AMBER) {
                        title { (label(b)) }
                    }
                }
                @if b.failed > 0 {
                    rect x=(x) y=(HEIGHT - ok - retry - fail) width=(bar) height=(fail) fill=(RED) {
                        title { (label(b)) }
                    }
                }
            }
            text x="4" y="12" font-size="11" fill="#555" { "peak " (peak) "/h" }
        }
    }
}

fn label(b: &Bucket) -> String {
    let at = b
        .start
        .map(|t| t.format("%a %H:00").to_string())
        .unwrap_or_default();
    format!(
        "{at}: {} succeeded, {} retrying, {} failed",
        b.succeeded, b.retrying, b.failed
    )
}

/// Lines of p50 and p95 attempt duration per hour.
pub fn durations(buckets: &[Bucket]) -> Markup {
    let peak = buckets
        .iter()
        .filter_map(|b| b.p95_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / buckets.len().max(1) as f64;
    let points = |pick: fn(&Bucket) -> Option<u64>| -> Vec<(f64, f64)> {
        buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let v = pick(b)? as f64 / peak as f64 * (HEIGHT - 20.0);
                Some((i as f64 * slot + slot / 2.0, HEIGHT - v))
            })
            .collect()
    };
    let (p50, p95) = (points(|b| b.p50_ms), points(|b| b.p95_ms));
    html! {
        svg class="chart" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label="Attempt duration per hour, p50 and p95" {
            title { "Attempt duration: p50 (blue) and p95 (purple), peak " (peak) " ms" }
            polyline points=(points_attr(&p50)) fill="none" stroke="#1c7ed6" stroke-width="2" {}
            polyline points=(points_attr(&p95)) fill="none" stroke="#9c36b5" stroke-width="2" {}
            // A dot per hour, so an hour alone still shows.
            @for (x, y) in &p50 { circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="2.5" fill="#1c7ed6" {} }
            @for (x, y) in &p95 { circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="2.5" fill="#9c36b5" {} }
            text x="4" y="12" font-size="11" fill="#555" { "p95 peak " (peak) " ms" }
        }
    }
}

/// A small line of the success rate per hour; hours without attempts leave a gap.
pub fn sparkline(buckets: &[Bucket]) -> Markup {
    let (w, h) = (120.0, 24.0);
    let slot = w / buckets.len().max(1) as f64;
    // Runs of hours with attempts; a lone hour is drawn as a short dash.
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (i, b) in buckets.iter().enumerate() {
        match (b.success_rate(), runs.last_mut()) {
            (Some(rate), Some(run)) => {
                run.push((i as f64 * slot + slot / 2.0, h - 2.0 - rate * (h - 4.0)));
            }
            _ => runs.push(Vec::new()),
        }
    }
    let points = |run: &[(f64, f64)]| -> String {
        match run {
            [(x, y)] => points_attr(&[(x - 1.5, *y), (x + 1.5, *y)]),
            more => points_attr(more),
        }
    };
    let total: u32 = buckets.iter().map(Bucket::total).sum();
    let ok: u32 = buckets.iter().map(|b| b.succeeded).sum();
    let summary = if total == 0 {
        "no attempts in 24 h".to_string()
    } else {
        format!("{ok} of {total} attempts succeeded in 24 h")
    };
    html! {
        svg class="spark" viewBox={ "0 0 " (w) " " (h) } role="img" aria-label=(summary) {
            title { (summary) }
            @for run in runs.iter().filter(|r| !r.is_empty()) {
                polyline points=(points(run)) fill="none" stroke=(GREEN) stroke-width="1.5" {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_read_is_an_error_not_an_empty_chart() {
        let now = Utc::now();
        assert!(read(Err(StoreError::Throttled), now, 24).is_err());
        assert_eq!(read(Ok(Vec::new()), now, 24).unwrap().len(), 24);
    }

    fn sample(at: DateTime<Utc>, ms: u64, state: DeliveryState) -> AttemptSample {
        AttemptSample {
            trigger: None,
            timestamp: at,
            duration_ms: ms,
            state,
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
    }

    #[test]
    fn attempts_land_in_their_hour() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let samples = [
            sample(now, 10, DeliveryState::Succeeded),
            sample(now - Duration::minutes(20), 30, DeliveryState::Failed),
            sample(now - Duration::hours(1), 20, DeliveryState::Retrying),
            sample(now - Duration::hours(30), 1, DeliveryState::Succeeded),
        ];
        let b = hourly(&samples, now, 24);
        assert_eq!(b.len(), 24);
        let last = &b[23];
        assert_eq!((last.succeeded, last.failed, last.retrying), (1, 1, 0));
        assert_eq!(last.p50_ms, Some(10));
        assert_eq!(last.p95_ms, Some(30));
        assert_eq!(b[22].retrying, 1);
        assert_eq!(b.iter().map(Bucket::total).sum::<u32>(), 3);
        assert_eq!(last.success_rate(), Some(0.5));
        assert_eq!(b[0].success_rate(), None);
    }

    #[test]
    fn charts_are_svg_with_one_bar_per_outcome() {
        let now = Utc::now();
        let b = hourly(
            &[
                sample(now, 10, DeliveryState::Succeeded),
                sample(now, 10, DeliveryState::Failed),
            ],
            now,
            24,
        );
        let svg = outcomes(&b).into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(!svg.contains("style="));
        let spark = sparkline(&b).into_string();
        assert!(spark.contains("1 of 2 attempts succeeded"));
        assert!(durations(&b).into_string().contains("polyline"));
        assert!(sparkline(&hourly(&[], now, 24))
            .into_string()
            .contains("no attempts"));
    }
}
