//! A page as an HTTP answer: the security headers and CSP, gzip when the client takes it,
//! and the error pages.

use super::*;

/// Scripts none; the one inline stylesheet by its hash; no other fetch; forms only to
/// here; no framing.
static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src 'none'; style-src {}; img-src data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        *crate::html::STYLE_SRC
    )
});

/// Whether the client takes gzip, as RFC 9110 reads `Accept-Encoding`: a coding's q-value
/// counts (`gzip;q=0` refuses it), and `*` stands for every coding not named. A q-value
/// that does not parse counts as 0: a plain page is never wrong.
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
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
pub(super) fn gzip(text: &str) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).ok()?;
    encoder.finish().ok()
}

pub(super) fn error_page(site: &Site, e: PageError) -> Page {
    match e {
        PageError::SignIn => Page::Redirect(site.path("/sign-in"), vec![]),
        PageError::Forbidden(why) => Page::Html(
            StatusCode::FORBIDDEN,
            pages::message(site, None, "Not allowed", why),
        ),
        PageError::Api(error) => {
            let status = crate::response::status(&error);
            if let ApiError::Internal(cause) = &error {
                tracing::error!(%cause, "portal page failed");
            }
            let message = crate::response::message(&error);
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

pub(super) fn into_response(page: Page, gzipped: bool) -> Response<Body> {
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
    use super::*;

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
}
