//! Portal sessions: signing in with a token or a one-time link, the signed session
//! cookie read back on every request, and signing out.

use super::*;

pub(super) async fn portal_key(app: &App) -> Result<&[u8], PageError> {
    app.portal_key
        .get_or_try_init(|| app.store.portal_key())
        .await
        .map(Vec::as_slice)
        .map_err(PageError::from)
}

/// The caller of a request with a live session, if any. A session whose token was
/// revoked, or whose account ended its sessions since it began, is ended here.
pub(super) async fn signed_in(
    app: &App,
    req: &Request,
    site: &Site,
) -> Result<Option<Caller>, PageError> {
    if req.headers().get(header::COOKIE).is_none() {
        return Ok(None);
    }
    let key = portal_key(app).await?;
    let Some(id) = cookies::verified(req, key, site.cookie_name()) else {
        return Ok(None);
    };
    let hash = session::hash(&id);
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

pub(super) async fn start_session(
    app: &App,
    site: &Site,
    session: Session,
) -> Result<Page, PageError> {
    let id = session::random_secret();
    app.store.put_session(&session::hash(&id), &session).await?;
    let key = portal_key(app).await?;
    let max_age = session.expires_at - Utc::now().timestamp();
    let value = cookies::signed_value(key, site.cookie_name(), &id)
        .ok_or_else(|| PageError::Internal("the portal key is too short to sign with".into()))?;
    let cookie = site.cookie(value, max_age.max(0));
    tracing::info!(account = %session.account_id, "portal session started");
    Ok(Page::Redirect(site.path("/webhooks"), vec![cookie]))
}

pub(super) async fn sign_in(app: &App, req: &Request, site: &Site) -> Result<Page, PageError> {
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

pub(super) async fn take_link(app: &App, site: &Site, token: &str) -> Result<Page, PageError> {
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

pub(super) async fn sign_out(app: &App, site: &Site, caller: &Caller) -> Result<Page, PageError> {
    app.store.delete_session(&caller.session_hash).await?;
    Ok(Page::Redirect(
        site.path("/sign-in"),
        vec![site.cookie(String::new(), 0)],
    ))
}
