//! `GET /webhooks/{id}/deliveries/{delivery_id}`.
use hookline_functions::{deliveries, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(deliveries::get).await
}
