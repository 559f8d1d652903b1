//! `GET /alerts`.
use hookline_functions::{alerts, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(alerts::list).await
}
