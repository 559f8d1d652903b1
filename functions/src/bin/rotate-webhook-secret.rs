//! `POST /webhooks/{id}/secret/rotate`.
use hookline_functions::{serve, webhooks};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(webhooks::rotate_secret).await
}
