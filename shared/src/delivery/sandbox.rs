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

use super::template::{self, Syntax, TemplateError};

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

/// Templates to render over one context: one webhook's body, header and URL templates,
/// or the conditions of an account's webhooks, each over its own webhook's context.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Job {
    pub pieces: Vec<Piece>,
    pub context: serde_json::Value,
}

/// One template of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Piece {
    pub source: String,
    #[serde(default)]
    pub syntax: Syntax,
    /// Values set in the job's context for this piece alone, each at a JSON Pointer
    /// (RFC 6901) that is in the context: what differs from one webhook to the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<(String, serde_json::Value)>,
}

impl Piece {
    pub fn text(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            ..Self::default()
        }
    }
}

/// Every piece's output or error, in order, and what rendering them took.
#[derive(Debug, Default)]
pub struct Answer {
    pub results: Vec<Result<String, TemplateError>>,
    /// The most memory one child held (its peak resident set, for the tests and the
    /// benchmark).
    pub peak_rss: Option<u64>,
    /// How long the renders took, children's start-up excluded.
    pub render_ms: u64,
    /// How many children rendered the job.
    pub children: u32,
}

/// A line of a child's answer: one per piece as it is rendered, so a child that dies
/// still answers for the pieces before the one that killed it; then its measures.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Rendered(Result<String, TemplateError>),
    Done {
        peak_rss: Option<u64>,
        render_ms: u64,
    },
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

    /// Renders the job's pieces in a fresh child. A piece that kills its child, or runs
    /// out of time, fails with a template error (the template did that), and the pieces
    /// after it render in another fresh child: one webhook's template never fails
    /// another's. Only failing to start a child is an error of the sandbox's.
    pub async fn run(&self, job: &Job) -> Result<Answer, SandboxError> {
        let mut answer = Answer::default();
        while answer.results.len() < job.pieces.len() {
            let rest = &job.pieces[answer.results.len()..];
            let round = self.run_child(rest, &job.context).await?;
            answer.children += 1;
            answer.render_ms += round.render_ms;
            answer.peak_rss = answer.peak_rss.max(round.peak_rss);
            answer.results.extend(round.results);
        }
        answer.results.truncate(job.pieces.len());
        Ok(answer)
    }

    /// One child for `pieces`: at least the first is answered.
    async fn run_child(
        &self,
        pieces: &[Piece],
        context: &serde_json::Value,
    ) -> Result<Answer, SandboxError> {
        #[derive(Serialize)]
        struct Input<'a> {
            pieces: &'a [Piece],
            context: &'a serde_json::Value,
        }
        let input = serde_json::to_vec(&Input { pieces, context })
            .map_err(|e| SandboxError(e.to_string()))?;
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
        let mut output = Vec::new();
        let exchange = async {
            // A child that dies early closes its stdin: its exit says why, below.
            let _ = stdin.write_all(&input).await;
            drop(stdin);
            let _ = stdout
                .take(ANSWER_MAX as u64 + 1)
                .read_to_end(&mut output)
                .await;
            child.wait().await
        };
        let ended = tokio::time::timeout(CHILD_DEADLINE, exchange).await;
        let mut answer = Answer::default();
        for line in output.split(|b| *b == b'\n') {
            match serde_json::from_slice::<Line>(line) {
                Ok(Line::Rendered(result)) => answer.results.push(result),
                Ok(Line::Done {
                    peak_rss,
                    render_ms,
                }) => {
                    answer.peak_rss = peak_rss;
                    answer.render_ms = render_ms;
                }
                // A line cut short by the child's death.
                Err(_) => break,
            }
        }
        if answer.results.is_empty() {
            let why = match ended {
                Err(_) => format!(
                    "the template did not finish within {} s",
                    CHILD_DEADLINE.as_secs()
                ),
                Ok(status) => describe_death(status.map_err(|e| SandboxError(e.to_string()))?),
            };
            answer.results.push(Err(TemplateError::new(why)));
        }
        Ok(answer)
    }
}

/// The exit code of a child whose render panicked.
const PANICKED: i32 = 3;
/// The exit code of a child that could not read its job.
const UNREADABLE: i32 = 2;

/// Why a child gave no answer: an allocation past its memory limit aborts it; its CPU
/// limit kills it.
fn describe_death(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.code() {
        Some(PANICKED) => return "the template engine failed on this template".into(),
        Some(UNREADABLE) => {
            return format!(
                "the alert is larger than the {} MiB a render may take",
                JOB_MAX >> 20
            )
        }
        _ => {}
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
/// job on its standard input, writes the answer and exits; otherwise returns.
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
    match read
        .ok()
        .and_then(|_| serde_json::from_slice::<Job>(&input).ok())
    {
        Some(job) => render_watched(job),
        None => std::process::exit(UNREADABLE),
    }
    // Exit at once: a render thread still running is abandoned with the process.
    std::process::exit(0);
}

/// Renders on a thread, each piece with [`RENDER_TIME`] to finish, writing each answer
/// as it comes; stops at the first that does not finish, or panics.
fn render_watched(job: Job) {
    let count = job.pieces.len();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .stack_size(8 * 1024 * 1024)
        .spawn(move || {
            let base = minijinja::Value::from(minijinja::value::Serde(&job.context));
            for piece in &job.pieces {
                let result = if piece.sets.is_empty() {
                    template::render(&piece.source, &base, piece.syntax)
                } else {
                    let mut context = job.context.clone();
                    for (pointer, value) in &piece.sets {
                        if let Some(slot) = context.pointer_mut(pointer) {
                            *slot = value.clone();
                        }
                    }
                    let context = minijinja::Value::from(minijinja::value::Serde(context));
                    template::render(&piece.source, &context, piece.syntax)
                };
                if tx.send(result).is_err() {
                    return;
                }
            }
        });
    let mut out = std::io::stdout().lock();
    let mut write = |line: Line| {
        let _ = serde_json::to_writer(&mut out, &line);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    };
    if let Err(e) = spawned {
        let why = format!("the template engine could not start: {e}");
        return write(Line::Rendered(Err(TemplateError::new(why))));
    }
    for _ in 0..count {
        let stopped = match rx.recv_timeout(RENDER_TIME) {
            Ok(result) => {
                write(Line::Rendered(result));
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => format!(
                "the template ran longer than the {} ms a render may",
                RENDER_TIME.as_millis()
            ),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                "the template engine failed on this template".into()
            }
        };
        write(Line::Rendered(Err(TemplateError::new(stopped))));
        break;
    }
    write(Line::Done {
        peak_rss: peak_rss(),
        render_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
}

/// What to set in `base` to make `other` (see [`Piece::sets`]): objects with the same
/// fields are compared field by field; anything else that differs is set whole.
pub fn differences(
    base: &serde_json::Value,
    other: &serde_json::Value,
) -> Vec<(String, serde_json::Value)> {
    fn walk(
        at: &str,
        base: &serde_json::Value,
        other: &serde_json::Value,
        out: &mut Vec<(String, serde_json::Value)>,
    ) {
        match (base, other) {
            _ if base == other => {}
            (serde_json::Value::Object(b), serde_json::Value::Object(o))
                if b.len() == o.len() && b.keys().all(|k| o.contains_key(k)) =>
            {
                for (key, value) in o {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    walk(&format!("{at}/{escaped}"), &b[key], value, out);
                }
            }
            _ => out.push((at.to_string(), other.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", base, other, &mut out);
    out
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
        assert!(death(UNREADABLE << 8).contains("4 MiB"));
        assert!(death(1 << 8).contains("stopped"));
    }

    #[test]
    fn differences_set_what_differs_and_nothing_more() {
        let base = serde_json::json!({"webhook": {"id": "a", "metadata": {"x": 1}, "n/~": 1}, "alert": {"big": [1, 2]}});
        let other = serde_json::json!({"webhook": {"id": "b", "metadata": {"y": 2}, "n/~": 2}, "alert": {"big": [1, 2]}});
        let sets = differences(&base, &other);
        assert_eq!(
            sets,
            vec![
                ("/webhook/id".to_string(), serde_json::json!("b")),
                ("/webhook/metadata".to_string(), serde_json::json!({"y": 2})),
                ("/webhook/n~1~0".to_string(), serde_json::json!(2)),
            ]
        );
        let mut made = base.clone();
        for (pointer, value) in sets {
            *made.pointer_mut(&pointer).unwrap() = value;
        }
        assert_eq!(made, other);
        assert_eq!(differences(&base, &base), vec![]);
        assert_eq!(
            differences(&base, &serde_json::json!(1)),
            vec![(String::new(), serde_json::json!(1))]
        );
    }

    #[test]
    fn the_peak_is_read_from_the_kernel() {
        assert!(peak_rss().is_some_and(|bytes| bytes > 0));
    }
}
