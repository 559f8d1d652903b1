//! The HTML page skeleton the portal and the action-link pages share: one inline
//! stylesheet, allowed by its hash in each page's CSP, and no script at all. maud escapes
//! every value.

use std::sync::LazyLock;

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The one stylesheet, inlined in every page; our own constant, never user input.
pub const STYLE: &str = include_str!("portal/style.css");

/// The CSP source that allows [`STYLE`] and nothing else: `'sha256-...'`.
pub static STYLE_SRC: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    format!("'sha256-{hash}'")
});

/// A page: `header` above, then `title` as its heading over `body`.
pub fn page(title: &str, header: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · Hookline" }
                // Inline (allowed by its hash in the CSP) and no favicon fetch: one request
                // per page.
                link rel="icon" href="data:,";
                style { (PreEscaped(STYLE)) }
            }
            body {
                (header)
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}
