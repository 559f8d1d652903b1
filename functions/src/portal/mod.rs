//! The portal: server-rendered HTML pages under `/portal`, served by one function.
//!
//! Every page does what the API does by calling the typed operations the API's routes
//! call ([`crate::service`]), as the signed-in caller: the same validation, errors,
//! masking, scopes and account scoping, so the portal can show nothing the API would not
//! and change nothing the API would refuse. Only the charts read the store directly, for
//! the caller's own account.
//!
//! Security: no script at all (CSP `script-src` is `'none'`), every value escaped by maud,
//! `frame-ancestors 'none'`; state changes only by POST, each with the session's CSRF
//! token and, when the browser sends one, an `Origin` of this host; the session cookie is
//! `HttpOnly`, `SameSite=Strict`, `Secure` (and `__Host-`) outside localhost, signed, and
//! ends at sign-out, at its expiry, or when the token it came from is revoked.

use chrono::Utc;
use hookline_shared::{
    auth::{hash_token, Access, Principal},
    session::{self, Session},
    ApiError,
};
use lambda_http::{
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    Body, Request, RequestExt, Response,
};
use maud::Markup;

use crate::{
    http::{base_url, body_bytes_of},
    App,
};

pub mod chart;
mod cookies;
pub mod form;
mod pages;
mod respond;
mod sessions;

use respond::{accepts_gzip, error_page, into_response};
use sessions::{sign_in, sign_out, signed_in, take_link};

use form::Form;

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// No session (or it ended): to the sign-in page.
    SignIn,
    /// A POST without this session's CSRF token, or from another origin.
    Forbidden(&'static str),
    /// An operation's refusal: shown with the status and message the API would answer.
    Api(ApiError),
    Internal(String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
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

    fn cookie(&self, value: String, max_age: i64) -> String {
        cookies::set_cookie(self.cookie_name(), value, max_age, self.secure)
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
        _ => Err(ApiError::NotFound("page").into()),
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

#[cfg(test)]
mod tests {
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
