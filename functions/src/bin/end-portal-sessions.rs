//! `DELETE /portal-sessions`: ends every portal session of the account.
use hookline_functions::{serve, sessions};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(sessions::end_sessions).await
}
