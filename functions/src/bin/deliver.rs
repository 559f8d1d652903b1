//! Triggered by the delivery queue (SQS, ReportBatchItemFailures): one attempt per message.
use hookline_functions::{serve_events, triggers};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_events(triggers::deliver).await
}
