//! A webhook's signing secret: revealed or rotated, each after a confirmation.

use hookline_shared::webhook::ROTATION_GRACE_DEFAULT_SECS;

use super::*;

pub async fn secret_confirm(ctx: &Ctx<'_>, id: &str, rotate: bool) -> Result<Page> {
    let w = get_webhook(ctx, id).await?;
    let site = ctx.site;
    let (title, text, action, label) = if rotate {
        (
            "Rotate the signing secret?",
            "A new secret signs every delivery from now on. The old one keeps signing beside it for 24 hours, so receivers can switch over.",
            "rotate",
            "Rotate secret",
        )
    } else {
        (
            "Reveal the signing secret?",
            "The secret verifies that deliveries come from Hookline. Anyone who sees it can forge them.",
            "secret",
            "Reveal secret",
        )
    };
    ok(layout(
        site,
        Some(ctx.caller),
        title,
        html! {
            p { "Webhook " strong { (w.settings.name) } }
            p { (text) }
            (button(ctx, &site.path(&format!("/webhooks/{id}/{action}")), label, "danger"))
            " " a href=(site.path(&format!("/webhooks/{id}"))) { "Cancel" }
        },
    ))
}

fn secret_page(ctx: &Ctx<'_>, id: &str, title: &str, secret: &str) -> Result<Page> {
    ok(layout(
        ctx.site,
        Some(ctx.caller),
        title,
        html! {
            p { "Signing secret:" }
            pre.secret { (secret) }
            p { a href=(ctx.site.path(&format!("/webhooks/{id}"))) { "Back to the webhook" } }
        },
    ))
}

/// Reveals the secret, or rotates it and shows the new one.
pub async fn secret(ctx: &Ctx<'_>, id: &str, rotate: bool) -> Result<Page> {
    let (title, secret) = if rotate {
        let grace = chrono::Duration::seconds(ROTATION_GRACE_DEFAULT_SECS.into());
        let rotated = service::webhooks::rotate_secret(ctx.app, ctx.who(), id, grace).await?;
        ("Secret rotated", rotated.secret)
    } else {
        let shown = service::webhooks::secret(ctx.app, ctx.who(), id).await?;
        ("Signing secret", shown.secret)
    };
    secret_page(ctx, id, title, &secret)
}
