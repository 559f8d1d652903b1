//! Triggered by EventBridge's CloudWatch Alarm State Change: ALARM fires, OK resolves.
use hookline_functions::{serve_events, triggers};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_events(triggers::ingest_cloudwatch).await
}
