//! The portal's calls to the API's own handlers, as the signed-in caller: the request a
//! handler is given, and its answer read back.

use super::*;

/// Calls an API handler as the caller: `uri` is the API path (some handlers read it),
/// `params` its path parameters.
pub async fn call<'a, F, Fut>(
    ctx: &pages::Ctx<'a>,
    handler: F,
    method: Method,
    uri: &str,
    params: &[(&str, &str)],
    query: &[(&str, &str)],
    body: Option<&Value>,
) -> (StatusCode, Value)
where
    F: FnOnce(&'a App, Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    let request = api_request(ctx, method, uri, params, query, body);
    let response = handler(ctx.app, request).await;
    (response.status(), body_json(&response))
}

pub(super) fn api_request(
    ctx: &pages::Ctx<'_>,
    method: Method,
    uri: &str,
    params: &[(&str, &str)],
    query: &[(&str, &str)],
    body: Option<&Value>,
) -> Request {
    let body = body.map_or(Body::Empty, |b| Body::Text(b.to_string()));
    let mut request = lambda_http::http::Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_default();
    if let Some(context) = ctx.req.request_context_ref() {
        request = request.with_request_context(context.clone());
    }
    let path: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let query: HashMap<String, String> = query
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut request = request
        .with_path_parameters(path)
        .with_query_string_parameters(query);
    request
        .extensions_mut()
        .insert(PortalCaller(ctx.caller.principal.clone()));
    request
}

pub(super) fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(body_bytes_of(response.body())).unwrap_or(Value::Null)
}

/// The field errors of an API error body.
pub fn field_errors(body: &Value) -> Vec<FieldError> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| {
                    FieldError::new(
                        e["field"].as_str().unwrap_or_default().to_string(),
                        e["message"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
