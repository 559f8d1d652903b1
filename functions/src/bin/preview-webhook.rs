//! `POST /webhooks/{id}/preview`.
use hookline_functions::{payloads, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(payloads::preview).await
}
