//! Hookline's domain, shared by every Lambda function and the admin tool. Laid out by
//! concern, so each question has one home:
//!
//! - [`webhook`]: the webhook, its settings and their rules, its content filter, its
//!   masked view;
//! - [`alert`]: the alert, its validation, the Alertmanager and CloudWatch mappings;
//! - [`event`]: the events webhooks subscribe to;
//! - [`ingest`]: fan-out of an alert to its webhooks;
//! - [`delivery`]: payload, signing, send, destination check, retry, worker, queue;
//! - [`store`]: DynamoDB, by noun: accounts and tokens, webhooks, alerts, deliveries;
//! - [`auth`]: bearer tokens, their hashes and scopes;
//! - [`keys`]: credentials sealed at rest under a data key from KMS;
//! - [`mask`]: what answers show of credentials, by the caller's access;
//! - [`settings`]: every setting, read in one place;
//! - [`clock`]: the time and the random source, passed in;
//! - [`backoff`]: trying again after a lost race or a partial batch, one way everywhere;
//! - [`metrics`]: CloudWatch metrics, as Embedded Metric Format log lines;
//! - [`error`]: the API's typed errors; [`validate`]: helpers for field-by-field input.

/// Declares an enum whose variants travel as strings (in JSON, DynamoDB and queries). Each
/// variant's name is written once, for strum; serde, `parse` and `as_str` all take it
/// from there.
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($body:tt)* }) => {
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            strum::Display,
            strum::EnumString,
            strum::IntoStaticStr,
            strum::VariantArray,
            serde_with::SerializeDisplay,
            serde_with::DeserializeFromStr,
        )]
        $(#[$meta])*
        pub enum $name { $($body)* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(raw: &str) -> Option<Self> {
                raw.parse().ok()
            }

            /// Every name, `a, b, c`, for error messages.
            pub fn names() -> String {
                use strum::VariantArray;
                Self::VARIANTS
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }
    };
}

pub mod alert;
pub mod auth;
pub mod aws;
pub mod backoff;
pub mod clock;
pub mod delivery;
pub mod error;
pub mod event;
pub mod ingest;
pub mod keys;
pub mod mask;
pub mod metrics;
pub mod session;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod validate;
pub mod webhook;

pub use error::ApiError;
pub use settings::Settings;
pub use store::Store;
