//! Hookline's Lambda functions. Each binary in `src/bin` is one function: it builds its
//! clients once and hands events to a handler here. Handlers are plain async functions
//! of ([`App`], event), so tests call them directly with the `events/` samples.

use std::future::Future;

use std::sync::Arc;

use hookline_shared::{
    delivery,
    queue::Queue,
    store::DynamoClient,
    telemetry,
    worker::{DeliveryConfig, Worker},
    Config, Store,
};
use lambda_http::{Body, Request, Response};

pub mod alerts;
pub mod deliveries;
pub mod paging;
pub mod triggers;
pub mod webhooks;

/// Everything a handler depends on, built once per cold start.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub config: Config,
    pub delivery: DeliveryConfig,
    /// The delivery queue.
    pub queue: Queue,
    /// Shared across invocations so connections to endpoints are reused.
    pub http: reqwest::Client,
    /// The deliver function's worker, with its webhook cache.
    pub worker: Arc<Worker>,
}

impl App {
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let config = Config::from_env()?;
        let delivery = DeliveryConfig::from_env()?;
        let aws = aws_config::load_from_env().await;
        let store = Store::new(DynamoClient::new(&aws), config.table_name.clone());
        let queue_url =
            std::env::var("DELIVERY_QUEUE_URL").map_err(|_| "DELIVERY_QUEUE_URL is required")?;
        let queue = Queue::new(aws_sdk_sqs::Client::new(&aws), queue_url);
        Ok(Self::new(store, queue, config, delivery))
    }

    pub fn new(store: Store, queue: Queue, config: Config, delivery: DeliveryConfig) -> Self {
        let http = delivery::http_client(&delivery.policy);
        let worker = Arc::new(Worker::new(
            store.clone(),
            queue.clone(),
            http.clone(),
            delivery.clone(),
        ));
        Self {
            store,
            config,
            delivery,
            queue,
            http,
            worker,
        }
    }
}

/// Builds the App once; it lives as long as the execution environment, so handlers get
/// a plain reference without an Arc clone per event.
async fn leaked_app() -> Result<&'static App, lambda_http::Error> {
    telemetry::init();
    Ok(Box::leak(Box::new(App::from_env().await?)))
}

/// Runs an API route's handler in the Lambda runtime.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    let app = leaked_app().await?;
    lambda_http::run(lambda_http::service_fn(|req| {
        let response = handler(app, req);
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    }))
    .await
}

/// Runs an event-triggered handler (SQS, EventBridge) in the Lambda runtime.
pub async fn serve_events<E, R, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(&'static App, E) -> Fut,
    Fut: Future<Output = Result<R, lambda_runtime::Error>> + Send,
{
    let app = leaked_app().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<E>| handler(app, event.payload),
    ))
    .await
}
