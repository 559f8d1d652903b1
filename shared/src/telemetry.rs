//! Logging setup: JSON lines in Lambda (CloudWatch parses them), filtered by `RUST_LOG`.

use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    prelude::*,
};

pub fn init() {
    // Targets, not EnvFilter: a level, or `target=level` pairs, is all `RUST_LOG` needs
    // here, and EnvFilter's regex engine is a sizeable share of every function's zip.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    // try_init: a second call (tests, the admin tool) must not panic.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .without_time() // Lambda stamps every line itself.
        .with_target(false)
        .finish()
        .with(filter)
        .try_init();
}
