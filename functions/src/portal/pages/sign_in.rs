//! Signing in: the sign-in form, and a portal link's confirmation page.

use super::*;

pub fn sign_in(site: &Site, error: Option<&str>) -> Page {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    Page::Html(
        status,
        layout(
            site,
            None,
            "Sign in",
            html! {
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form.card method="post" action=(site.path("/sign-in")) {
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="off" required
                        placeholder="hkl_...";
                    p.hint { "A read-only token gives a read-only portal. Or open a portal link made by "
                        code { "POST /portal-links" } " or " code { "hookline-admin portal-link" } "." }
                    button type="submit" { "Sign in" }
                }
            },
        ),
    )
}

/// A portal link's page: one button, so link scanners that follow GETs use nothing up.
pub fn link_confirm(site: &Site, token: &str) -> Page {
    Page::Html(
        StatusCode::OK,
        layout(
            site,
            None,
            "Open the portal",
            html! {
                p { "This one-time link signs you in to a Hookline account's portal." }
                form method="post" action=(site.path(&format!("/link/{token}"))) {
                    button type="submit" { "Continue to the portal" }
                }
            },
        ),
    )
}
