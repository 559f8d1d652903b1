//! Users' templates run in a child process, one per render, with its own memory and time
//! limits: whatever a template makes the engine do, only that child dies, never the
//! function with the other accounts' deliveries of its batch.
//!
//! Fuel ([`super::template`]) stops most runaway templates inside the engine with a clear
//! error. The child is what holds when the engine itself has a hole: it renders on a
//! thread it abandons after [`RENDER_TIME`], under an `RLIMIT_DATA` of [`RENDER_MEMORY`]
//! (an allocation past it aborts the child), with an `RLIMIT_CPU` backstop. A panic ends
//! only the child. The child is the function's own executable, started with
//! [`CHILD_FLAG`]: every function's `main` hands over to [`serve_child`] first.
//!
//! Built-in formats are Hookline's own templates and render in the function itself.

use std::{
    io::{Read, Write},
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::template::{self, TemplateError};

/// The argument that makes a function's executable a render child.
pub const CHILD_FLAG: &str = "--hookline-render";
/// How long a render may run.
pub const RENDER_TIME: Duration = Duration::from_millis(100);
/// The most heap a render child may use, its own start-up included.
pub const RENDER_MEMORY: u64 = 48 * 1024 * 1024;
/// How long the function waits for a child, start-up included, before killing it.
const CHILD_DEADLINE: Duration = Duration::from_secs(5);
/// The most a child may answer: every template's largest output, and room for errors.
const ANSWER_MAX: usize = 8 * 1024 * 1024;
/// The most a job may hold: the templates (64 KiB each) and the context.
const JOB_MAX: usize = 4 * 1024 * 1024;

/// Templates to render over one context: one webhook's body and header templates.
#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    pub templates: Vec<String>,
    pub context: serde_json::Value,
}

/// What a child answers: each template's output or error, in order, and the most memory
/// the child held (its peak resident set, for the tests and the benchmark).
#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    pub results: Vec<Result<String, TemplateError>>,
    pub peak_rss: Option<u64>,
    /// How long the renders took, start-up excluded.
    pub render_ms: u64,
}

/// The child could not be run at all: nothing is known about the template.
#[derive(Debug, thiserror::Error)]
#[error("the template sandbox could not run: {0}")]
pub struct SandboxError(String);

/// Runs render jobs in children of `exe`.
#[derive(Clone, Debug)]
pub struct Sandbox {
    exe: PathBuf,
}

impl Sandbox {
    /// Children of the running executable: what a function uses.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?))
    }

    /// Children of `exe`, which must call [`serve_child`] first in its `main`.
    pub fn new(exe: PathBuf) -> Self {
        Self { exe }
    }

    /// Children of the function `name` built beside the running executable (in its
    /// folder, or above it for a test binary in `deps/`): for the tests and the benchmark,
    /// which run the functions' code in-process.
    pub fn beside(name: &str) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut dir = exe.parent().unwrap_or(&exe);
        if dir.ends_with("deps") {
            dir = dir.parent().unwrap_or(dir);
        }
        Ok(Self::new(dir.join(name)))
    }

    /// Renders the job in a fresh child. A child that dies, runs out of time or answers
    /// nonsense fails every template of the job with a template error: the template did
    /// that. Only failing to start one is an error of the sandbox's.
    pub async fn run(&self, job: &Job) -> Result<Answer, SandboxError> {
        let input = serde_json::to_vec(job).map_err(|e| SandboxError(e.to_string()))?;
        let mut child = tokio::process::Command::new(&self.exe)
            .arg(CHILD_FLAG)
            .env_clear()
            // One malloc arena: a render thread would otherwise reserve one of its own.
            .env("MALLOC_ARENA_MAX", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SandboxError(format!("{}: {e}", self.exe.display())))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(SandboxError("the child has no pipes".into()));
        };
        let exchange = async {
            // A child that dies early closes its stdin: its exit says why, below.
            let _ = stdin.write_all(&input).await;
            drop(stdin);
            let mut answer = Vec::new();
            let _ = stdout
                .take(ANSWER_MAX as u64 + 1)
                .read_to_end(&mut answer)
                .await;
            (answer, child.wait().await)
        };
        let died = |why: String| Answer {
            results: job
                .templates
                .iter()
                .map(|_| Err(TemplateError::new(why.clone())))
                .collect(),
            peak_rss: None,
            render_ms: 0,
        };
        let (answer, status) = match tokio::time::timeout(CHILD_DEADLINE, exchange).await {
            Ok(done) => done,
            Err(_) => {
                return Ok(died(format!(
                    "the template did not finish within {} s",
                    CHILD_DEADLINE.as_secs()
                )))
            }
        };
        let status = status.map_err(|e| SandboxError(e.to_string()))?;
        if let Ok(answer) = serde_json::from_slice::<Answer>(&answer) {
            if answer.results.len() == job.templates.len() {
                return Ok(answer);
            }
        }
        Ok(died(describe_death(status)))
    }
}

/// The exit code of a child whose render panicked.
const PANICKED: i32 = 3;

/// Why a child gave no answer: an allocation past its memory limit aborts it; its CPU
/// limit kills it.
fn describe_death(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if status.code() == Some(PANICKED) {
        return "the template engine failed on this template".into();
    }
    match status.signal() {
        Some(libc::SIGABRT) | Some(libc::SIGSEGV) | Some(libc::SIGBUS) => format!(
            "the template used more than the {} MiB a render may",
            RENDER_MEMORY / (1024 * 1024)
        ),
        Some(libc::SIGXCPU) | Some(libc::SIGKILL) => format!(
            "the template ran longer than the {} ms a render may",
            RENDER_TIME.as_millis()
        ),
        _ => format!("the template engine stopped ({status})"),
    }
}

/// Called first in every function's `main`: when started as a render child, renders the
/// job on its standard input, writes the [`Answer`] and exits; otherwise returns.
pub fn serve_child() {
    if std::env::args().nth(1).as_deref() != Some(CHILD_FLAG) {
        return;
    }
    // A panic says nothing (a header's template is a secret) and ends the child with a
    // code of its own, the same whether panics unwind or abort.
    std::panic::set_hook(Box::new(|_| std::process::exit(PANICKED)));
    limit(libc::RLIMIT_DATA, RENDER_MEMORY);
    // A backstop for the watchdog below: whole seconds are the finest this limit takes.
    limit(libc::RLIMIT_CPU, RENDER_TIME.as_secs() + 2);
    let mut input = Vec::new();
    let read = std::io::stdin()
        .take(JOB_MAX as u64)
        .read_to_end(&mut input);
    let answer = match read
        .ok()
        .and_then(|_| serde_json::from_slice::<Job>(&input).ok())
    {
        Some(job) => render_watched(job),
        None => std::process::exit(2),
    };
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &answer);
    let _ = out.flush();
    // Exit at once: a render thread still running is abandoned with the process.
    std::process::exit(0);
}

/// Renders on a thread, each template with [`RENDER_TIME`] to finish; answers for the
/// one that does not finish, or panics, and for those after it.
fn render_watched(job: Job) -> Answer {
    let count = job.templates.len();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .stack_size(8 * 1024 * 1024)
        .spawn(move || {
            let context = minijinja::Value::from(minijinja::value::Serde(job.context));
            for source in &job.templates {
                if tx.send(template::render(source, &context)).is_err() {
                    return;
                }
            }
        });
    let mut results = Vec::with_capacity(count);
    let mut stopped = match spawned {
        Err(e) => Some(format!("the template engine could not start: {e}")),
        Ok(_) => None,
    };
    while results.len() < count && stopped.is_none() {
        match rx.recv_timeout(RENDER_TIME) {
            Ok(result) => results.push(result),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                stopped = Some(format!(
                    "the template ran longer than the {} ms a render may",
                    RENDER_TIME.as_millis()
                ))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                stopped = Some("the template engine failed on this template".into())
            }
        }
    }
    if let Some(why) = stopped {
        results.push(Err(TemplateError::new(why)));
        while results.len() < count {
            results.push(Err(TemplateError::new(
                "not rendered: a template before it failed to finish",
            )));
        }
    }
    Answer {
        results,
        peak_rss: peak_rss(),
        render_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

fn limit(resource: libc::__rlimit_resource_t, value: u64) {
    let rlimit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads the struct it is given and changes only this process.
    unsafe {
        libc::setrlimit(resource, &rlimit);
    }
}

/// The most memory this process has held (`VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn a_dead_child_is_told_apart() {
        let death = |raw| describe_death(std::process::ExitStatus::from_raw(raw));
        assert!(death(PANICKED << 8).contains("engine failed"));
        assert!(death(libc::SIGABRT).contains("48 MiB"));
        assert!(death(libc::SIGKILL).contains("100 ms"));
        assert!(death(libc::SIGXCPU).contains("100 ms"));
        assert!(death(2 << 8).contains("stopped"));
    }

    #[test]
    fn the_peak_is_read_from_the_kernel() {
        assert!(peak_rss().is_some_and(|bytes| bytes > 0));
    }
}
