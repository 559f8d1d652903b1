//! The AWS SDK's configuration, loaded the same way by every function and tool.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::{
    tls::{rustls_provider::CryptoMode, Provider},
    Builder,
};

/// The default configuration chain (environment, which includes `AWS_ENDPOINT_URL_*`,
/// then profiles and the container or instance role), with an HTTPS client on rustls
/// and ring: the SDK's default client would link aws-lc beside reqwest's ring.
pub async fn config() -> SdkConfig {
    loader().load().await
}

/// The loader behind [`config`], for callers that set more (tests sign as a function).
pub fn loader() -> ConfigLoader {
    let http = Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http)
}
