//! `POST /portal-links`: a one-time portal URL.
use hookline_functions::{portal, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(portal::create_link).await
}
