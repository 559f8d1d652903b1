//! Triggered by the alerts queue (SQS, ReportBatchItemFailures): producers in AWS send alerts here.
use hookline_functions::{serve_events, triggers};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_events(triggers::ingest_queue).await
}
