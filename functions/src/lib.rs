//! The API's Lambda functions. Each binary in `src/bin` is one route: it builds its
//! clients once and hands requests to a handler here. Handlers are plain async
//! functions of ([`App`], request), so tests call them directly with `events/` samples.

use std::future::Future;

use hookline_shared::{delivery, telemetry, Config, Store};
use lambda_http::{service_fn, Body, Request, Response};

pub mod webhooks;

/// Everything a handler depends on, built once per cold start.
#[derive(Clone, Debug)]
pub struct App {
    pub store: Store,
    pub config: Config,
    /// Shared across invocations so connections to endpoints are reused.
    pub http: reqwest::Client,
}

impl App {
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let config = Config::from_env()?;
        let store = Store::from_env(config.table_name.clone()).await;
        Ok(Self::new(store, config))
    }

    pub fn new(store: Store, config: Config) -> Self {
        Self {
            store,
            config,
            http: delivery::http_client(),
        }
    }
}

/// Runs one route's handler in the Lambda runtime.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    telemetry::init();
    // The App lives as long as the execution environment; leaking it gives handlers a
    // plain reference without an Arc clone per request.
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_http::run(service_fn(|req| {
        let response = handler(app, req);
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    }))
    .await
}
