//! The portal: server-rendered HTML pages under `/portal`, served by one function.
//!
//! Every page does what the API does by calling the API's own handlers in-process, as the
//! signed-in caller ([`PortalCaller`]): the same validation, error envelopes, masking,
//! scopes and account scoping, so the portal can show nothing the API would not and change
//! nothing the API would refuse. Only the charts read the store directly, for the caller's
//! own account.
//!
//! Security: no script at all (CSP `script-src` is `'none'`), every value escaped by maud,
//! `frame-ancestors 'none'`; state changes only by POST, each with the session's CSRF
//! token and, when the browser sends one, an `Origin` of this host; the session cookie is
//! `HttpOnly`, `SameSite=Strict`, `Secure` (and `__Host-`) outside localhost, signed, and
//! ends at sign-out, at its expiry, or when the token it came from is revoked.

use std::collections::HashMap;

use chrono::Utc;
use hookline_shared::{
    auth::{hash_token, Access, Principal},
    error::FieldError,
    session::{self, Session},
    ApiError,
};
use lambda_http::{
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    Body, Request, RequestExt, Response,
};
use maud::Markup;
use serde_json::Value;

use crate::{
    http::{base_url, body_bytes_of, PortalCaller},
    App,
};

pub mod chart;
pub mod form;
mod pages;

use form::Form;

/// Scripts none; the one inline stylesheet by its hash; no other fetch; forms only to
/// here; no framing.
static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(pages::STYLE));
    format!(
        "default-src 'none'; script-src 'none'; style-src 'sha256-{hash}'; img-src data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
});

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// No session (or it ended): to the sign-in page.
    SignIn,
    /// A POST without this session's CSRF token, or from another origin.
    Forbidden(&'static str),
    /// The API's answer: shown with its status and message.
    Api(StatusCode, Value),
    Internal(String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let response = crate::response::error_response(e);
        let status = response.status();
        Self::Api(status, body_json(&response))
    }
}

impl From<hookline_shared::store::StoreError> for PageError {
    fn from(e: hookline_shared::store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

/// A page's answer.
pub enum Page {
    Html(StatusCode, Markup),
    /// 303 to a path under the portal, with cookies to set.
    Redirect(String, Vec<String>),
}

/// The signed-in caller.
pub struct Caller {
    pub principal: Principal,
    pub session: Session,
    session_hash: String,
}

impl Caller {
    pub fn can_write(&self) -> bool {
        self.principal.require(Access::Write).is_ok()
    }
}

/// Where the portal lives, as this request reached it (API Gateway's stage, if named).
#[derive(Clone)]
pub struct Site {
    pub root: String,
    secure: bool,
}

impl Site {
    /// Under `PUBLIC_BASE_URL` when it is set (a custom domain, perhaps mapped to a base
    /// path, which the request itself does not show), else as the request reached it.
    fn of(req: &Request, public_base_url: Option<&str>) -> Self {
        let host = host(req).unwrap_or_default();
        let local = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .any(|h| host == *h || host.starts_with(&format!("{h}:")));
        let base = public_base_url
            .map(str::to_string)
            .or_else(|| base_url(req))
            .and_then(|b| url::Url::parse(&b).ok());
        let path = base
            .as_ref()
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        let secure = match (public_base_url, &base) {
            (Some(_), Some(url)) => url.scheme() == "https",
            _ => !local,
        };
        Self {
            root: format!("{path}/portal"),
            secure,
        }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.root)
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure {
            session::SECURE_COOKIE
        } else {
            session::COOKIE
        }
    }

    fn cookie(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
            self.cookie_name()
        )
    }
}

fn host(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
}

/// Every `/portal` route.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let site = Site::of(&req, app.settings.public_base_url.as_deref());
    let page = match route(app, &req, &site).await {
        Ok(page) => page,
        Err(e) => error_page(&site, e),
    };
    into_response(page, accepts_gzip(req.headers()))
}

/// Whether the client takes gzip, as RFC 9110 reads `Accept-Encoding`: a coding's q-value
/// counts (`gzip;q=0` refuses it), and `*` stands for every coding not named. A q-value
/// that does not parse counts as 0: a plain page is never wrong.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut others = None;
    let codings = (headers.get_all(header::ACCEPT_ENCODING).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for coding in codings {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => others = Some(q),
            _ => {}
        }
    }
    gzip.or(others).is_some_and(|q| q > 0.0)
}

/// A page gzipped: about a quarter of its size.
fn gzip(text: &str) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).ok()?;
    encoder.finish().ok()
}

/// The path's segments after `/portal` (the route's path parameters, in order).
fn segments(req: &Request) -> Vec<String> {
    let params = req.path_parameters();
    ["a", "b", "c", "d", "e"]
        .iter()
        .map_while(|name| params.first(name).map(str::to_string))
        .collect()
}

async fn route(app: &App, req: &Request, site: &Site) -> Result<Page, PageError> {
    let segments = segments(req);
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let post = req.method() == Method::POST;
    if post {
        same_origin(req)?;
    }
    // Pages that need no session.
    match (post, parts.as_slice()) {
        (false, ["sign-in"]) => return Ok(pages::sign_in(site, None)),
        (true, ["sign-in"]) => return sign_in(app, req, site).await,
        (false, ["link", token]) => return Ok(pages::link_confirm(site, token)),
        (true, ["link", token]) => return take_link(app, site, token).await,
        _ => {}
    }
    let caller = signed_in(app, req, site).await?.ok_or(PageError::SignIn)?;
    let form = if post {
        let form = read_form(req)?;
        let presented = form.get("csrf").unwrap_or_default();
        if !session::csrf_matches(&caller.session, presented) {
            return Err(PageError::Forbidden(
                "this form expired or came from another page; reload it and try again",
            ));
        }
        form
    } else {
        Form::default()
    };
    let ctx = pages::Ctx {
        app,
        req,
        site,
        caller: &caller,
    };
    match (post, parts.as_slice()) {
        (false, []) => Ok(Page::Redirect(site.path("/webhooks"), vec![])),
        (true, ["sign-out"]) => sign_out(app, site, &caller).await,
        (false, ["webhooks"]) => pages::webhooks(&ctx).await,
        (false, ["webhooks", "new"]) => pages::webhook_form(&ctx, None, None, None).await,
        (true, ["webhooks", "new"]) => pages::save_webhook(&ctx, None, &form).await,
        (false, ["webhooks", id]) => pages::webhook(&ctx, id).await,
        (false, ["webhooks", id, "edit"]) => pages::edit_webhook(&ctx, id).await,
        (true, ["webhooks", id, "edit"]) => pages::save_webhook(&ctx, Some(id), &form).await,
        (true, ["webhooks", id, action @ ("enable" | "disable")]) => {
            pages::set_enabled(&ctx, id, *action == "enable").await
        }
        (false, ["webhooks", id, "secret"]) => pages::secret_confirm(&ctx, id, false).await,
        (true, ["webhooks", id, "secret"]) => pages::secret(&ctx, id, false).await,
        (false, ["webhooks", id, "rotate"]) => pages::secret_confirm(&ctx, id, true).await,
        (true, ["webhooks", id, "rotate"]) => pages::secret(&ctx, id, true).await,
        (true, ["webhooks", id, "test"]) => pages::send_test(&ctx, id).await,
        (false, ["webhooks", id, "deliveries"]) => pages::deliveries(&ctx, id).await,
        (false, ["webhooks", id, "deliveries", delivery]) => {
            pages::delivery(&ctx, id, delivery).await
        }
        (true, ["webhooks", id, "deliveries", delivery, "redeliver"]) => {
            pages::redeliver(&ctx, id, delivery).await
        }
        (false, ["webhooks", id, "recover"]) => pages::recover_form(&ctx, id, None).await,
        (true, ["webhooks", id, "recover"]) => pages::recover(&ctx, id, &form).await,
        (false, ["alerts"]) => pages::alerts(&ctx).await,
        (false, ["alerts", id]) => pages::alert(&ctx, id).await,
        (true, ["alerts", id, action]) => pages::act(&ctx, id, action, &form).await,
        _ => Err(PageError::Api(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": {"message": "no such page"}}),
        )),
    }
}

/// A POST whose browser names another origin is refused: with `SameSite=Strict` cookies
/// this also stops sign-in CSRF (a form elsewhere signing the victim in as someone else).
fn same_origin(req: &Request) -> Result<(), PageError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .map(|u| match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_string(),
        });
    if origin_host.is_some() && origin_host.as_deref() == host(req) {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "this form was posted from another site",
        ))
    }
}

fn read_form(req: &Request) -> Result<Form, PageError> {
    let bytes = body_bytes_of(req.body());
    if bytes.len() > form::FORM_LIMIT {
        return Err(ApiError::PayloadTooLarge {
            limit: form::FORM_LIMIT,
        }
        .into());
    }
    Ok(Form::parse(bytes))
}

async fn portal_key(app: &App) -> Result<&[u8], PageError> {
    app.portal_key
        .get_or_try_init(|| app.store.portal_key())
        .await
        .map(Vec::as_slice)
        .map_err(PageError::from)
}

fn cookie_of<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The caller of a request with a live session, if any. A session whose token was
/// revoked, or whose account ended its sessions since it began, is ended here.
async fn signed_in(app: &App, req: &Request, site: &Site) -> Result<Option<Caller>, PageError> {
    let Some(value) = cookie_of(req, site.cookie_name()) else {
        return Ok(None);
    };
    let key = portal_key(app).await?;
    let Some(id) = session::open_cookie(key, value) else {
        return Ok(None);
    };
    let hash = session::hash(id);
    let Some(session) = app.store.get_session(&hash, Utc::now()).await? else {
        return Ok(None);
    };
    let token = async {
        match &session.origin.token_hash {
            Some(token_hash) => app.store.find_token(token_hash).await,
            None => Ok(None),
        }
    };
    let (account, token) = futures::join!(app.store.get_account(&session.account_id), token);
    let (account, token) = (account?, token?);
    let ended_at = account.as_ref().and_then(|a| a.sessions_ended_at);
    let principal = match token {
        Some(p) if !session.via_link && session.stands(ended_at, Some(&p)) => p,
        token
            if session.via_link
                && account.is_some()
                && session.stands(ended_at, token.as_ref()) =>
        {
            session.link_principal()
        }
        _ => {
            app.store.delete_session(&hash).await?;
            tracing::info!(account = %session.account_id, "portal session ended: its token was revoked, or its account ended its sessions");
            return Ok(None);
        }
    };
    Ok(Some(Caller {
        principal,
        session,
        session_hash: hash,
    }))
}

async fn start_session(app: &App, site: &Site, session: Session) -> Result<Page, PageError> {
    let id = session::random_secret();
    app.store.put_session(&session::hash(&id), &session).await?;
    let key = portal_key(app).await?;
    let max_age = session.expires_at - Utc::now().timestamp();
    let cookie = site.cookie(&session::cookie_value(key, &id), max_age.max(0));
    tracing::info!(account = %session.account_id, "portal session started");
    Ok(Page::Redirect(site.path("/webhooks"), vec![cookie]))
}

async fn sign_in(app: &App, req: &Request, site: &Site) -> Result<Page, PageError> {
    let form = read_form(req)?;
    let token = form.text("token");
    let found = match hookline_shared::auth::bearer_token(Some(&format!("Bearer {token}"))) {
        Ok(token) => app.store.find_token(&hash_token(token)).await?,
        Err(_) => None,
    };
    let Some(principal) = found.filter(|p| p.require(Access::Read).is_ok()) else {
        return Ok(pages::sign_in(
            site,
            Some("That token is not valid, or was revoked."),
        ));
    };
    let session = Session::signed_in(&principal, Utc::now());
    start_session(app, site, session).await
}

async fn take_link(app: &App, site: &Site, token: &str) -> Result<Page, PageError> {
    let now = Utc::now();
    let Some(link) = app
        .store
        .take_portal_link(&session::hash(token), now)
        .await?
    else {
        return Err(PageError::Forbidden(
            "this portal link is not valid: it was used already, expired, or never existed",
        ));
    };
    tracing::info!(account = %link.account_id, by = %link.origin.created_by, "portal link used");
    start_session(app, site, Session::from_link(link, now)).await
}

async fn sign_out(app: &App, site: &Site, caller: &Caller) -> Result<Page, PageError> {
    app.store.delete_session(&caller.session_hash).await?;
    Ok(Page::Redirect(
        site.path("/sign-in"),
        vec![site.cookie("", 0)],
    ))
}

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

fn api_request(
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

fn body_json(response: &Response<Body>) -> Value {
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

fn error_page(site: &Site, e: PageError) -> Page {
    match e {
        PageError::SignIn => Page::Redirect(site.path("/sign-in"), vec![]),
        PageError::Forbidden(why) => Page::Html(
            StatusCode::FORBIDDEN,
            pages::message(site, None, "Not allowed", why),
        ),
        PageError::Api(status, body) => {
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("something went wrong")
                .to_string();
            let heading = match status {
                StatusCode::NOT_FOUND => "Not found",
                StatusCode::FORBIDDEN => "Not allowed",
                s if s.is_server_error() => "Something went wrong",
                _ => "That did not work",
            };
            Page::Html(status, pages::message(site, None, heading, &message))
        }
        PageError::Internal(cause) => {
            tracing::error!(%cause, "portal page failed");
            Page::Html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::message(site, None, "Something went wrong", "try again in a moment"),
            )
        }
    }
}

fn into_response(page: Page, gzipped: bool) -> Response<Body> {
    let mut builder = Response::builder()
        .header(header::CONTENT_SECURITY_POLICY, CSP.as_str())
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "same-origin")
        .header("x-robots-tag", "noindex");
    let body = match page {
        Page::Html(status, markup) => {
            builder = builder
                .status(status)
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                .header(header::CACHE_CONTROL, "no-store")
                .header(header::VARY, "accept-encoding");
            let text = markup.into_string();
            match gzipped.then(|| gzip(&text)).flatten() {
                Some(bytes) => {
                    builder = builder.header(header::CONTENT_ENCODING, "gzip");
                    Body::Binary(bytes)
                }
                None => Body::Text(text),
            }
        }
        Page::Redirect(to, cookies) => {
            builder = builder
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, to)
                .header(header::CACHE_CONTROL, "no-store");
            for c in cookies {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    builder = builder.header(header::SET_COOKIE, v);
                }
            }
            Body::Empty
        }
    };
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

#[cfg(test)]
mod tests {
    #[test]
    fn gzip_is_sent_only_when_accepted_by_its_q_value() {
        for (accept, gzipped) in [
            ("gzip", true),
            ("deflate, gzip;q=1.0, br", true),
            ("GZIP; Q=0.5", true),
            ("x-gzip", true),
            ("*", true),
            ("gzip;q=0", false),
            ("gzip;q=0.000", false),
            ("br, *;q=0", false),
            ("*;q=0.5, gzip;q=0", false),
            ("gzip;q=0, *", false),
            ("gzip;q=nonsense", false),
            ("br, deflate", false),
            ("", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
            assert_eq!(super::accepts_gzip(&headers), gzipped, "{accept:?}");
        }
        assert!(!super::accepts_gzip(&HeaderMap::new()));
    }

    use super::*;

    fn request(host: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri("/portal/webhooks")
            .header(header::HOST, host)
            .body(Body::Empty)
            .unwrap()
    }

    /// A custom domain mapped to a base path: the portal's links and cookie follow
    /// PUBLIC_BASE_URL, which the request does not show.
    #[test]
    fn the_site_is_under_the_public_base_url() {
        let mapped = Site::of(
            &request("hooks.example.com"),
            Some("https://hooks.example.com/hookline"),
        );
        assert_eq!(mapped.path("/webhooks"), "/hookline/portal/webhooks");
        assert!(mapped.secure);
        assert_eq!(mapped.cookie_name(), session::SECURE_COOKIE);
        let plain = Site::of(&request("127.0.0.1:9000"), Some("http://127.0.0.1:9000"));
        assert_eq!(plain.path("/webhooks"), "/portal/webhooks");
        assert!(!plain.secure);
        let unset = Site::of(&request("abc.execute-api.eu-west-1.amazonaws.com"), None);
        assert_eq!(unset.root, "/portal");
        assert!(unset.secure);
    }
}
