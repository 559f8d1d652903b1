//! What a run cost the machine: requests by operation (an interceptor on any AWS client),
//! the CPU each emulator and the bench itself used, and how busy the whole machine was,
//! second by second. On a 2-core VM the emulators share the cores with the code under
//! test, so a latency figure means little without them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_smithy_runtime_api::client::{
    interceptors::{context::BeforeTransmitInterceptorContextRef, Intercept},
    orchestrator::Metadata,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::config_bag::ConfigBag;

/// Counts requests sent (retries included) by operation.
#[derive(Clone, Debug, Default)]
pub struct Requests(Arc<Mutex<HashMap<String, u64>>>);

impl Requests {
    pub fn by_operation(&self) -> HashMap<String, u64> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "RequestCount"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            *(self.0.lock().unwrap())
                .entry(metadata.name().to_string())
                .or_default() += 1;
        }
        Ok(())
    }
}

/// `after - before` by key, largest first, leaving out what did not change.
pub fn counted_since(
    before: &HashMap<String, u64>,
    after: HashMap<String, u64>,
) -> Vec<(String, u64)> {
    let mut grown: Vec<(String, u64)> = (after.into_iter())
        .map(|(k, n)| {
            let was = before.get(&k).copied().unwrap_or_default();
            (k, n.saturating_sub(was))
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    grown.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    grown
}

/// The processes whose CPU is reported: the emulators (their pids from `scripts/lib.sh`)
/// and the bench, which runs the handlers and the receivers.
fn processes() -> Vec<(&'static str, String)> {
    let mut all = vec![("bench", std::process::id().to_string())];
    for (name, var) in [
        ("DynamoDB Local", "DYNAMODB_PID"),
        ("SQS emulator", "SQS_PID"),
    ] {
        if let Ok(pid) = std::env::var(var) {
            all.push((name, pid));
        }
    }
    all
}

/// CPU seconds a process has used (user and system), if it runs.
fn cpu_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's closing parenthesis; utime and stime are the 12th
    // and 13th of them.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / CLOCK_TICKS)
}

/// The clock ticks a second `/proc` counts in: USER_HZ, 100 on Linux whatever the kernel's
/// own tick.
const CLOCK_TICKS: f64 = 100.0;

/// The machine's busy and total CPU seconds so far, over all cores.
fn machine() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<f64> = (line.split_whitespace())
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some(((total - idle) / CLOCK_TICKS, total / CLOCK_TICKS))
}

/// CPU used since it was taken: by process, and the machine's busy share.
#[derive(Clone, Debug)]
pub struct CpuMark {
    processes: Vec<(&'static str, Option<f64>)>,
    machine: Option<(f64, f64)>,
    at: Instant,
}

impl CpuMark {
    pub fn now() -> Self {
        Self {
            processes: (processes().into_iter())
                .map(|(name, pid)| (name, cpu_of(&pid)))
                .collect(),
            machine: machine(),
            at: Instant::now(),
        }
    }

    /// "DynamoDB Local 1.02 cores, ..." over the time since this mark, and the machine's
    /// busy share.
    pub fn describe_since(&self) -> String {
        let later = Self::now();
        let wall = (later.at - self.at).as_secs_f64().max(0.001);
        let mut parts: Vec<String> = (self.processes.iter().zip(&later.processes))
            .filter_map(|((name, was), (_, now))| {
                Some(format!(
                    "{name} {:.2}",
                    (now.as_ref()? - was.as_ref()?) / wall
                ))
            })
            .collect();
        if let (Some((busy0, total0)), Some((busy1, total1))) = (self.machine, later.machine) {
            let share = (busy1 - busy0) / (total1 - total0).max(0.001);
            parts.push(format!("the machine {:.0} % busy", share * 100.0));
        }
        format!("cores used: {}", parts.join(", "))
    }
}

/// The machine's busy share, sampled every `every` until the handle is dropped.
#[derive(Clone, Default)]
pub struct BusyTimeline(Arc<Mutex<Vec<(Instant, f64)>>>);

impl BusyTimeline {
    /// Starts sampling in the background; the task ends when every clone is dropped.
    pub fn start(every: Duration) -> Self {
        let timeline = Self::default();
        let samples = Arc::downgrade(&timeline.0);
        tokio::spawn(async move {
            let mut last = machine();
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(samples) = samples.upgrade() else {
                    return;
                };
                let now = machine();
                if let (Some((b0, t0)), Some((b1, t1))) = (last, now) {
                    let share = (b1 - b0) / (t1 - t0).max(0.001);
                    samples.lock().unwrap().push((Instant::now(), share));
                }
                last = now;
            }
        });
        timeline
    }

    /// The busiest sample that overlaps `from..to` (a sample covers the interval before
    /// its time), if any was taken.
    pub fn busiest(&self, from: Instant, to: Instant, every: Duration) -> Option<f64> {
        (self.0.lock().unwrap().iter())
            .filter(|(at, _)| *at > from && *at - every < to)
            .map(|(_, share)| *share)
            .max_by(f64::total_cmp)
    }
}

/// The processes' names and pids as reported, for the run's header.
pub fn watched() -> String {
    (processes().into_iter())
        .map(|(name, pid)| format!("{name} (pid {pid})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_since_leave_out_the_unchanged_and_sort_largest_first() {
        let before = HashMap::from([("A".to_string(), 2), ("B".to_string(), 5)]);
        let after = HashMap::from([
            ("A".to_string(), 9),
            ("B".to_string(), 5),
            ("C".to_string(), 1),
        ]);
        assert_eq!(
            counted_since(&before, after),
            vec![("A".to_string(), 7), ("C".to_string(), 1)]
        );
    }
}
