//! `POST /portal-links`: a one-time portal URL.
use hookline_functions::{serve, sessions};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(sessions::create_link).await
}
