//! What answers show of values that are credentials. Some are always masked (header
//! values, passwords, signatures); others are capabilities only a caller who may write
//! sees (webhook URLs, which are credentials for Slack, Teams, Discord and Google Chat, and
//! an alert's action links). No answer of the API or the portal carries a usable
//! signature: it would let its reader forge or replay a delivery.

use crate::auth::Access;

/// What answers show in place of a secret value.
pub const MASK: &str = "********";

/// A `webhook-signature` value with every signature masked and its scheme kept:
/// `v1,******** v1,********` shows how many secrets signed, and nothing that verifies.
pub fn signature(value: &str) -> String {
    value
        .split(' ')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once(',') {
            Some((scheme, _)) => format!("{scheme},{MASK}"),
            None => MASK.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A URL as a caller without write access sees it: its scheme and host (and port), the
/// rest masked. Incoming-webhook URLs carry their credential in the path.
pub fn url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or_default();
            match parsed.port() {
                Some(port) => format!("{}://{host}:{port}/{MASK}", parsed.scheme()),
                None => format!("{}://{host}/{MASK}", parsed.scheme()),
            }
        }
        Err(_) => MASK.to_string(),
    }
}

/// `url` as a caller with `access` sees it.
pub fn url_for(access: Access, url: &str) -> String {
    match access {
        Access::Write => url.to_string(),
        Access::Read => self::url(url),
    }
}

/// An action link with its token masked: the page it leads to, but not the capability.
pub fn link(url: &str) -> String {
    match url.rfind("/links/") {
        Some(at) => format!("{}/links/{MASK}", &url[..at]),
        None => self::url(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_keep_their_scheme_and_count_only() {
        assert_eq!(signature("v1,abc= v1,def="), "v1,******** v1,********");
        assert_eq!(signature("v1,abc="), "v1,********");
        assert_eq!(signature("garbage"), MASK);
        assert!(!signature("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=").contains("g0h"));
    }

    #[test]
    fn urls_keep_scheme_and_host() {
        assert_eq!(
            url("https://hooks.slack.com/services/T0/B0/XXXX?x=1#f"),
            "https://hooks.slack.com/********"
        );
        assert_eq!(
            url("http://127.0.0.1:8787/hook"),
            "http://127.0.0.1:8787/********"
        );
        assert_eq!(
            url("https://[2001:db8::1]/a"),
            "https://[2001:db8::1]/********"
        );
        assert_eq!(url("not a url"), MASK);
        assert_eq!(
            url_for(Access::Write, "https://e.com/s3cret"),
            "https://e.com/s3cret"
        );
        assert_eq!(
            url_for(Access::Read, "https://e.com/s3cret"),
            "https://e.com/********"
        );
    }

    #[test]
    fn links_lose_their_token() {
        assert_eq!(
            link("https://api.example.com/prod/links/eyJh.c2ln"),
            "https://api.example.com/prod/links/********"
        );
    }
}
