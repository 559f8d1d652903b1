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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_config::Region;
    use aws_sdk_dynamodb::config::Credentials;
    use tokio::{io::AsyncReadExt, net::TcpListener, task::JoinHandle};

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
