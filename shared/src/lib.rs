//! Hookline's domain, shared by every Lambda function and the admin tool.
//!
//! - [`model`]: the webhook, its validation and its API views.
//! - [`store`]: the DynamoDB single-table store (webhooks, accounts, tokens).
//! - [`auth`]: bearer tokens, their hashes and scopes.
//! - [`delivery`]: payloads, Standard Webhooks signing, the HTTP send and its outcome.
//! - [`error`]: typed errors and the one place that maps them to HTTP responses.
//! - [`http`]: request parsing shared by the API functions (body limits, JSON, queries).

pub mod alert;
pub mod auth;
pub mod config;
pub mod delivery;
pub mod error;
pub mod http;
pub mod ingest;
pub mod model;
pub mod queue;
pub mod records;
pub mod ssrf;
pub mod store;
pub mod telemetry;
pub mod validate;
pub mod worker;

pub use config::Config;
pub use error::ApiError;
pub use store::Store;
