//! `GET /webhooks/{id}`.
use hookline_functions::{serve, webhooks};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(webhooks::get).await
}
