//! `GET /webhooks/{id}/deliveries`.
use hookline_functions::{deliveries, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(deliveries::list).await
}
