//! `GET` and `POST /links/{token}`: one-click action links.
use hookline_functions::{links, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    serve(links::handle).await
}
