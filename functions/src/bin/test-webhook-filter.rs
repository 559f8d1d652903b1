//! `POST /webhooks/{id}/filter/test`.
use hookline_functions::{payloads, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(payloads::test_filter).await
}
