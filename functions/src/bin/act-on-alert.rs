//! `POST /alerts/{id}/acknowledge`, `/unacknowledge`, `/resolve`, `/unresolve`, `/silence`
//! and `/unsilence`: one function, since the six share their code and their permissions.
use hookline_functions::{alerts, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(alerts::act).await
}
