//! URLs built per alert, as Grafana OnCall's are
//! (`https://api.example.com/incidents/{{ alert.id }}/ack`), and the paths a format adds
//! to its webhook's URL (Opsgenie's `/{alias}/close?identifierType=alias`).
//!
//! A template may be in the path and the query only: the scheme, host and port are
//! written out before the first tag, checked at save like any URL, and every rendered URL
//! must have that same origin. Values are percent-encoded as they are written
//! ([`super::template::Syntax::Url`]), and what a render makes is checked again here: no
//! fragment, no `.` or `..` segment, no empty segment. The destination check at connect
//! time applies to every attempt as to any URL.

use super::template::TemplateError;

/// The longest URL a render may make.
pub const RENDERED_MAX_CHARS: usize = 2048;

/// Where a template's first tag starts.
fn first_tag(source: &str) -> Option<usize> {
    ["{{", "{%", "{#"]
        .iter()
        .filter_map(|tag| source.find(tag))
        .min()
}

/// The template's literal start up to the end of its origin (`https://host:port`), when
/// its path or query starts before the first tag; `None` for a plain URL.
pub fn origin_of(source: &str) -> Result<Option<url::Url>, String> {
    let Some(tag) = first_tag(source) else {
        return Ok(None);
    };
    let literal = &source[..tag];
    let authority = literal.find("://").map(|i| i + 3);
    let path = authority.and_then(|a| literal[a..].find(['/', '?']).map(|p| a + p));
    let Some(path) = path else {
        return Err(
            "may hold a template in its path and query only: write the scheme, \
                    host and port out, then `/`, before the first {{ or {%"
                .into(),
        );
    };
    let origin = url::Url::parse(&literal[..path])
        .map_err(|e| format!("must start with an absolute http or https URL ({e})"))?;
    Ok(Some(origin))
}

/// The template with every tag replaced by `x`: the shape of the URLs it renders, to
/// check at save as a URL.
pub fn skeleton(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = first_tag(rest) {
        out.push_str(&rest[..start]);
        let close = match &rest[start..start + 2] {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        out.push('x');
        rest = match rest[start + 2..].find(close) {
            Some(end) => &rest[start + 2 + end + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Checks the path and query of a URL (a render, or a skeleton at save): no fragment, no
/// `.` or `..` segment, no empty segment but a trailing one.
pub fn check_shape(url: &str) -> Result<(), String> {
    if url.contains('#') {
        return Err("must not have a fragment (#)".into());
    }
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_and_query = match url[after_scheme..].find(['/', '?']) {
        Some(p) => &url[after_scheme + p..],
        None => "",
    };
    let path = path_and_query.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Err(format!(
                "must not have a {segment:?} path segment, which would name another path"
            ));
        }
        if segment.is_empty() && i + 1 < segments.len() {
            return Err("must not have an empty path segment (//)".into());
        }
    }
    Ok(())
}

/// Checks a rendered URL: the origin saved, and a sound shape.
pub fn checked(rendered: String, origin: &url::Url) -> Result<String, TemplateError> {
    let fail = |why: String| Err(TemplateError::new(format!("the rendered URL {why}")));
    if rendered.chars().count() > RENDERED_MAX_CHARS {
        return fail(format!("is longer than {RENDERED_MAX_CHARS} characters"));
    }
    if rendered.chars().any(char::is_control) {
        return fail("holds a control character".into());
    }
    if let Err(why) = check_shape(&rendered) {
        return fail(why);
    }
    match url::Url::parse(&rendered) {
        Ok(url) if url.origin() == origin.origin() && url.username().is_empty() => Ok(rendered),
        Ok(_) => fail(format!(
            "does not go to {}, the origin the webhook was saved with",
            origin.origin().ascii_serialization()
        )),
        Err(e) => fail(format!("does not parse ({e})")),
    }
}

/// `base` with a format's `suffix` (`/path?query`) added to its path and query.
pub fn join(base: &str, suffix: &str) -> Result<String, TemplateError> {
    let mut url = url::Url::parse(base)
        .map_err(|e| TemplateError::new(format!("the webhook's URL does not parse ({e})")))?;
    let (path, query) = suffix.split_once('?').unwrap_or((suffix, ""));
    let joined_path = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined_path);
    let joined_query = [url.query().unwrap_or_default(), query]
        .into_iter()
        .filter(|q| !q.is_empty())
        .collect::<Vec<_>>()
        .join("&");
    url.set_query((!joined_query.is_empty()).then_some(joined_query.as_str()));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_written_out() {
        let origin = |s| origin_of(s).map(|o| o.map(|u| u.to_string()));
        assert_eq!(origin("https://e.com/x"), Ok(None));
        assert_eq!(
            origin("https://e.com:8443/i/{{ alert.id }}/ack").unwrap(),
            Some("https://e.com:8443/".into())
        );
        assert!(origin("https://e.com?q={{ x }}").unwrap().is_some());
        for bad in [
            "https://{{ host }}/x",
            "https://e.com{{ path }}",
            "https://e.{% if x %}com{% endif %}/x",
            "{{ url }}",
            "https://e.com:{{ port }}/x",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn skeletons_replace_every_tag() {
        assert_eq!(
            skeleton("https://e.com/i/{{ a }}/{% if b %}c{% endif %}{# note #}?q={{ d }}"),
            "https://e.com/i/x/xcxx?q=x"
        );
        assert_eq!(skeleton("https://e.com/{{ open"), "https://e.com/x");
    }

    #[test]
    fn rendered_urls_keep_their_origin_and_shape() {
        let origin = url::Url::parse("https://api.e.com/").unwrap();
        let ok = |u: &str| checked(u.into(), &origin);
        ok("https://api.e.com/i/42/ack?x=1%2F2").unwrap();
        ok("https://api.e.com/i/").unwrap();
        for bad in [
            "https://api.e.com/i/../admin",
            "https://api.e.com/i/%2E%2e/admin",
            "https://api.e.com/i/./x",
            "https://api.e.com/i//ack",
            "https://api.e.com/i/1#frag",
            "https://evil.com/i/1",
            "http://api.e.com/i/1",
            "https://api.e.com:444/i/1",
            "https://api.e.com/i/1\r\nHost: x",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(ok(&format!("https://api.e.com/{}", "a".repeat(3000))).is_err());
    }

    #[test]
    fn a_suffix_joins_the_path_and_the_query() {
        let j = |b, s| join(b, s).unwrap();
        assert_eq!(
            j(
                "https://api.opsgenie.com/v2/alerts",
                "/k%2F1/close?identifierType=alias"
            ),
            "https://api.opsgenie.com/v2/alerts/k%2F1/close?identifierType=alias"
        );
        assert_eq!(
            j("https://e.com/a/?t=1", "/b?c=2"),
            "https://e.com/a/b?t=1&c=2"
        );
        assert_eq!(j("https://e.com/a", ""), "https://e.com/a");
    }
}
