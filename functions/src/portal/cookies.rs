//! The portal's cookies, built and read by the `cookie` crate. The session cookie is
//! signed (HMAC-SHA256, the crate's signed jar) with a key derived from the portal key,
//! so that only a session id this portal set reads back.

use cookie::{time::Duration, Cookie, CookieJar, Key, SameSite};
use lambda_http::{http::header, Request};

/// The signing key: `None` for a portal key too short to derive one from (32 bytes).
fn signing_key(portal_key: &[u8]) -> Option<Key> {
    (portal_key.len() >= 32).then(|| Key::derive_from(portal_key))
}

/// A `Set-Cookie` value: the session cookie's flags, with `value` (empty and a
/// `max_age` of 0 remove it).
pub fn set_cookie(name: &'static str, value: String, max_age: i64, secure: bool) -> String {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(Duration::seconds(max_age))
        .secure(secure)
        .build()
        .to_string()
}

/// Session `id`, signed as the value of cookie `name`.
pub fn signed_value(portal_key: &[u8], name: &'static str, id: &str) -> Option<String> {
    let key = signing_key(portal_key)?;
    let mut jar = CookieJar::new();
    jar.signed_mut(&key).add(Cookie::new(name, id.to_string()));
    jar.get(name).map(|c| c.value().to_string())
}

/// The session id in the request's cookie `name`, if its signature is right.
pub fn verified(req: &Request, portal_key: &[u8], name: &'static str) -> Option<String> {
    let key = signing_key(portal_key)?;
    let mut jar = CookieJar::new();
    let sent = (req.headers().get_all(header::COOKIE).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_string()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)?;
    jar.add_original(sent);
    let id = jar.signed(&key).get(name)?.value().to_string();
    (!id.is_empty() && id.len() <= 64).then_some(id)
}

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;

    use super::*;

    fn request(cookie: &str) -> Request {
        let mut req = Request::default();
        req.headers_mut()
            .insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        req
    }

    #[test]
    fn a_session_cookie_reads_back_only_unaltered_and_with_its_key() {
        let key = b"k".repeat(32);
        let value = signed_value(&key, "s", "session-id").unwrap();
        let read = |cookie: &str, key: &[u8]| verified(&request(cookie), key, "s");
        assert_eq!(
            read(&format!("other=1; s={value}"), &key).as_deref(),
            Some("session-id")
        );
        assert_eq!(read(&format!("s={value}"), &b"x".repeat(32)), None);
        let mut altered = value.clone();
        altered.replace_range(0..1, if value.starts_with('A') { "B" } else { "A" });
        assert_eq!(read(&format!("s={altered}"), &key), None);
        assert_eq!(read("s=session-id", &key), None);
        assert_eq!(read("s=", &key), None);
        assert_eq!(read(&format!("t={value}"), &key), None);
        // Too short a portal key signs nothing, rather than a weak signature.
        assert_eq!(signed_value(b"short", "s", "id"), None);
    }

    #[test]
    fn set_cookie_carries_every_flag() {
        let set = set_cookie("s", "v".into(), 60, true);
        for part in [
            "s=v",
            "Path=/",
            "HttpOnly",
            "SameSite=Strict",
            "Max-Age=60",
            "Secure",
        ] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        assert!(!set_cookie("s", String::new(), 0, false).contains("Secure"));
    }
}
