//! The AWS SDK's configuration, loaded the same way by every function and tool.

use std::time::Duration;

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, ConfigLoader, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
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

/// How long one try of a DynamoDB, SQS or KMS call may take, and the whole call with its
/// retries: every call answers in milliseconds, and a stalled one must fail inside the
/// shortest function timeout (15 s), as an error the caller can retry, not hold the
/// invocation until Lambda ends it. (Generous for AWS; the local emulators on a busy
/// machine have been seen to take seconds.)
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The loader behind [`config`], for callers that set more (tests sign as a function).
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https())
        .timeout_config(timeouts())
}

fn https() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The configuration a Lambda function runs with: the region and credentials Lambda puts
/// in every function's environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, as the default chain reads them first),
/// and endpoints from `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL`, as the SDK
/// reads them. Not aws-config's whole chain: profiles, SSO, STS web identity and the
/// instance metadata service are never used in Lambda, and linking them made every
/// function larger (BENCHMARKS.md).
pub fn function_config() -> SdkConfig {
    use aws_config::{environment::EnvironmentVariableCredentialsProvider, retry::RetryConfig};
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .map(aws_config::Region::new);
    let mut builder = SdkConfig::builder();
    builder.set_region(region);
    builder
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(https())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard())
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio's sleep"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .service_config(EnvEndpoints)
        .build()
}

/// Service endpoints from the environment: `AWS_ENDPOINT_URL_DYNAMODB` (the service's id,
/// upper case, spaces as underscores), else `AWS_ENDPOINT_URL`; none when unset.
#[derive(Debug)]
struct EnvEndpoints;

impl aws_types::service_config::LoadServiceConfig for EnvEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        let specific = format!("{}_{service}", key.env());
        [specific.as_str(), key.env()]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_config::Region;
    use aws_sdk_dynamodb::config::Credentials;
    use tokio::{io::AsyncReadExt, net::TcpListener, task::JoinHandle};

    use crate::store::StoreError;

    use crate::delivery::{destination::Policy, send::http_client};

    /// An `https://` URL on loopback, and the first byte a client sends to it (within 10 s).
    async fn listener() -> (String, JoinHandle<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let first_byte = tokio::spawn(async move {
            let read = async {
                let (mut socket, _) = listener.accept().await.unwrap();
                socket.read_u8().await.unwrap()
            };
            tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("no connection within 10 s")
        });
        (url, first_byte)
    }

    #[test]
    fn endpoints_come_from_the_environment_by_service() {
        use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
        let key = ServiceConfigKey::builder()
            .service_id("Hookline Test")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        assert_eq!(super::EnvEndpoints.load_config(key.clone()), None);
        std::env::set_var("AWS_ENDPOINT_URL_HOOKLINE_TEST", "http://127.0.0.1:1");
        assert_eq!(
            super::EnvEndpoints.load_config(key).as_deref(),
            Some("http://127.0.0.1:1")
        );
        std::env::remove_var("AWS_ENDPOINT_URL_HOOKLINE_TEST");
    }

    /// A DynamoDB that accepts connections and never answers: each try times out, the SDK
    /// tries again, and the call ends in a typed error well inside a function's timeout.
    #[tokio::test]
    async fn a_stalled_endpoint_is_a_timely_retryable_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        let sdk = super::loader()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("k", "s", None, None, "test"))
            .endpoint_url(&url)
            .load()
            .await;
        let store = crate::Store::new(aws_sdk_dynamodb::Client::new(&sdk), "t");
        let started = std::time::Instant::now();
        let err = store.get_webhook_config("a", "w").await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, StoreError::TimedOut), "{err:?}");
        assert!(
            took >= super::ATTEMPT_TIMEOUT && took < Duration::from_secs(12),
            "{took:?}"
        );
        assert!(
            accepted.load(std::sync::atomic::Ordering::SeqCst) >= 2,
            "tried again"
        );
        assert!(matches!(
            crate::ApiError::from(err),
            crate::ApiError::Unavailable
        ));
    }

    /// Neither crate links a crypto provider of its own now: both clients must find ring
    /// and open with a TLS handshake record (0x16), not fail or panic before connecting.
    #[tokio::test]
    async fn the_sdk_and_the_delivery_client_both_speak_tls_with_ring() {
        let (url, seen) = listener().await;
        let sdk = super::loader()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("k", "s", None, None, "test"))
            .endpoint_url(&url)
            .load()
            .await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let _refused = dynamodb.list_tables().send().await;
        assert_eq!(seen.await.unwrap(), 0x16, "the SDK's first byte");

        let (url, seen) = listener().await;
        let _refused = http_client(&Policy::default()).get(&url).send().await;
        assert_eq!(
            seen.await.unwrap(),
            0x16,
            "the delivery client's first byte"
        );
    }
}
