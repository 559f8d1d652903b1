//! Settings read once from the environment at cold start.

use std::time::Duration;

/// Default per-account webhook quota, as in the ApiTree seed.
pub const DEFAULT_WEBHOOK_QUOTA: u32 = 30;
/// Every seed that states a delivery timeout says 10 s.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Config {
    /// The single DynamoDB table holding accounts, tokens and webhooks.
    pub table_name: String,
    /// Webhooks an account may hold unless its account item overrides it.
    pub webhook_quota: u32,
    /// The account that CloudWatch alarm changes raise alerts in.
    pub cloudwatch_account: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = lookup("TABLE_NAME")
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::Missing("TABLE_NAME"))?;
        let webhook_quota = match lookup("WEBHOOK_QUOTA") {
            None => DEFAULT_WEBHOOK_QUOTA,
            Some(raw) => raw.parse().map_err(|e| ConfigError::Invalid {
                name: "WEBHOOK_QUOTA",
                reason: format!("{raw:?}: {e}"),
            })?,
        };
        Ok(Self {
            table_name,
            webhook_quota,
            cloudwatch_account: lookup("CLOUDWATCH_ACCOUNT_ID").filter(|v| !v.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_name_is_required_and_quota_defaults_to_30() {
        assert!(Config::from_lookup(|_| None).is_err());
        let config = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| "t".into())).unwrap();
        assert_eq!(config.webhook_quota, 30);
    }

    #[test]
    fn quota_is_configurable_and_validated() {
        let env = |q: &'static str| {
            move |k: &str| match k {
                "TABLE_NAME" => Some("t".to_string()),
                "WEBHOOK_QUOTA" => Some(q.to_string()),
                _ => None,
            }
        };
        assert_eq!(Config::from_lookup(env("5")).unwrap().webhook_quota, 5);
        assert!(Config::from_lookup(env("many")).is_err());
    }
}
