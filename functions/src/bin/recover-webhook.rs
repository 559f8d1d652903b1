//! `POST /webhooks/{id}/recover`.
use hookline_functions::{deliveries, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(deliveries::recover).await
}
