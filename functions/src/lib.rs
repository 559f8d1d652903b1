//! Hookline's Lambda functions. Each binary in `src/bin` is one function: it builds its
//! clients once and hands events to a handler here. Handlers are plain async functions
//! of ([`App`], event), so tests call them directly with the `events/` samples.
//!
//! HTTP belongs here: [`http`] parses requests, [`response`] writes answers and errors.
//! Each API route parses its request and calls one typed operation in [`service`], which
//! the [`portal`]'s pages call too.

use std::{future::Future, sync::Arc};

use hookline_shared::{
    clock::{Clock, Random, SystemClock, ThreadRandom},
    delivery::{
        attempt::Attempter,
        queue::Queue,
        sandbox::{self, Sandbox},
        worker::Worker,
    },
    ingest::Ingest,
    keys::Keyring,
    store::DynamoClient,
    telemetry, Settings, Store,
};
use lambda_http::{Body, Request, Response};

pub mod alerts;
pub mod deliveries;
pub mod html;
pub mod http;
pub mod links;
pub mod paging;
pub mod payloads;
pub mod portal;
pub mod response;
pub mod service;
pub mod sessions;
pub mod triggers;
pub mod webhooks;

/// Everything a handler depends on, built once per cold start.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub settings: Settings,
    /// The delivery queue.
    pub queue: Queue,
    /// Makes attempts (the test route), with the clock and random source.
    pub attempter: Attempter,
    /// The deliver function's worker.
    pub worker: Arc<Worker>,
    /// The portal's cookie-signing key, read (or made) once per instance.
    pub portal_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

impl App {
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let settings = Settings::from_env()?;
        let aws = hookline_shared::aws::function_config();
        let mut store = Store::new(DynamoClient::new(&aws), settings.table_name.clone());
        if let Some(key) = &settings.data_key_id {
            store = store.with_keys(Keyring::kms(aws_sdk_kms::Client::new(&aws), key));
        }
        let queue = Queue::new(
            aws_sdk_sqs::Client::new(&aws),
            settings.delivery_queue_url.clone(),
        );
        Ok(Self::new(
            store,
            queue,
            settings,
            Arc::new(SystemClock),
            Arc::new(ThreadRandom),
            Sandbox::current_exe()?,
        ))
    }

    pub fn new(
        store: Store,
        queue: Queue,
        settings: Settings,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        sandbox: Sandbox,
    ) -> Self {
        let attempter = Attempter::new(&settings, clock, random, sandbox);
        let worker = Arc::new(Worker::new(store.clone(), queue.clone(), attempter.clone()));
        Self {
            store,
            settings,
            queue,
            attempter,
            worker,
            portal_key: Arc::default(),
        }
    }

    /// Alerts in and their changes, on this App's store, queue and settings. Action links
    /// start with `PUBLIC_BASE_URL`, or else with `request_base` (an API route's own URL).
    pub fn ingest<'a>(&'a self, request_base: Option<&'a str>) -> Ingest<'a> {
        Ingest {
            store: &self.store,
            queue: &self.queue,
            settings: &self.settings.delivery,
            links_base: self.settings.public_base_url.as_deref().or(request_base),
            sandbox: &self.attempter.sandbox,
        }
    }
}

/// Builds the App once; it lives as long as the execution environment, so handlers get
/// a plain reference without an Arc clone per event. Started as a template sandbox's
/// child, the process renders its job and exits here instead.
async fn leaked_app() -> Result<&'static App, lambda_http::Error> {
    sandbox::serve_child();
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
