//! `GET` and `POST /portal/...`: the web portal's pages.
use hookline_functions::{portal, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(portal::handle).await
}
