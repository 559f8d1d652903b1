//! Portal sign-in: sessions and one-time portal links.
//!
//! A session is a random id, stored only as its SHA-256 (like tokens), with the account,
//! the scopes and the hash of the API token it came from: the token signed in with, or the
//! one that minted its portal link. Every request checks that token still exists, so
//! revoking it ends every session it led to; and that the account has not ended its
//! sessions since this one began (`DELETE /portal-sessions`, `hookline-admin
//! end-portal-sessions`), which also ends those of links the admin tool made. The cookie
//! carries the id and an HMAC of it under the portal's key, so a forged or altered cookie
//! is refused before any lookup. Each session has its own CSRF token, which every form
//! posts back.
//!
//! A portal link is a random token, stored as its hash for at most an hour, taken (deleted
//! on condition that it exists) by its first use, which starts a session.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::{Principal, Scope};

/// How long a session lasts from sign-in.
pub const SESSION_HOURS: i64 = 8;
/// The longest a portal link may be valid (as Svix's app portal links).
pub const LINK_MAX_SECS: i64 = 3600;
/// The session cookie's name: `__Host-` where the cookie is `Secure` (browsers then insist
/// on `Path=/` and no `Domain`), plain on http://localhost.
pub const COOKIE: &str = "hookline_session";
pub const SECURE_COOKIE: &str = "__Host-hookline_session";

/// The token id a portal-link session acts as, in logs and `by` fields.
pub const LINK_PRINCIPAL: &str = "portal-link";

/// Where a session or a portal link came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The hash of the API token behind it; `None` only for the admin tool's links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hash: Option<String>,
    /// A token id, or `admin`.
    pub created_by: String,
}

impl Origin {
    /// What `principal` makes.
    pub fn of(principal: &Principal) -> Self {
        Self {
            token_hash: principal.token_hash.clone(),
            created_by: principal.token_id.clone(),
        }
    }

    /// What the admin tool makes.
    pub fn admin() -> Self {
        Self {
            token_hash: None,
            created_by: ADMIN.into(),
        }
    }
}

/// Who made what the admin tool makes.
pub const ADMIN: &str = "admin";

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub account_id: String,
    #[serde(flatten)]
    pub origin: Origin,
    /// Started from a portal link: it acts with the link's scopes, not its token's.
    #[serde(default)]
    pub via_link: bool,
    pub scopes: Vec<Scope>,
    /// Posted back by every form of this session.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    /// Seconds since the epoch (the item's TTL too).
    pub expires_at: i64,
}

/// A portal link as stored, until its first use or its expiry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortalLink {
    pub account_id: String,
    pub scopes: Vec<Scope>,
    #[serde(flatten)]
    pub origin: Origin,
    pub expires_at: i64,
}

/// 32 random bytes, base64url: session ids, CSRF tokens, link tokens, keys.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a presented CSRF token is the session's. Their hashes are compared, so the
/// comparison's timing says nothing about the token.
pub fn csrf_matches(session: &Session, presented: &str) -> bool {
    Sha256::digest(presented.as_bytes()) == Sha256::digest(session.csrf.as_bytes())
}

impl Session {
    /// A session for `principal`, signed in with its own token.
    pub fn signed_in(principal: &Principal, now: DateTime<Utc>) -> Self {
        Self::new(
            &principal.account_id,
            Origin::of(principal),
            false,
            principal.scopes.clone(),
            now,
            now + Duration::hours(SESSION_HOURS),
        )
    }

    /// A session from a portal link, taken at `now`.
    pub fn from_link(link: PortalLink, now: DateTime<Utc>) -> Self {
        Self::new(
            &link.account_id,
            link.origin,
            true,
            link.scopes,
            now,
            now + Duration::hours(SESSION_HOURS),
        )
    }

    fn new(
        account_id: &str,
        origin: Origin,
        via_link: bool,
        scopes: Vec<Scope>,
        now: DateTime<Utc>,
        ends: DateTime<Utc>,
    ) -> Self {
        Self {
            account_id: account_id.to_string(),
            origin,
            via_link,
            scopes,
            csrf: random_secret(),
            created_at: now,
            expires_at: ends.min(now + Duration::hours(SESSION_HOURS)).timestamp(),
        }
    }

    /// The caller a portal-link session acts as (a token's session acts as its token,
    /// read afresh on every request).
    pub fn link_principal(&self) -> Principal {
        Principal {
            account_id: self.account_id.clone(),
            token_id: LINK_PRINCIPAL.to_string(),
            scopes: self.scopes.clone(),
            token_hash: self.origin.token_hash.clone(),
        }
    }

    /// Whether the session still stands, given the account's end of its sessions and
    /// whether its token (if it has one) still exists in the account.
    pub fn stands(
        &self,
        sessions_ended_at: Option<DateTime<Utc>>,
        token: Option<&Principal>,
    ) -> bool {
        let ended = sessions_ended_at.is_some_and(|t| self.created_at <= t);
        let token_ok = match (&self.origin.token_hash, token) {
            (None, _) => true,
            (Some(_), Some(p)) => p.account_id == self.account_id,
            (Some(_), None) => false,
        };
        !ended && token_ok
    }
}

/// The scopes a link grants: read-only, or what its maker may do.
pub fn link_scopes(read_only: bool) -> Vec<Scope> {
    if read_only {
        vec![Scope::WebhookReadonly]
    } else {
        vec![Scope::Webhook]
    }
}

/// Stores a portal link; its URL under `base` (the API's base URL) and when it expires.
pub async fn mint_link(
    store: &crate::Store,
    base: &str,
    link: &PortalLink,
) -> Result<(String, DateTime<Utc>), crate::store::StoreError> {
    let token = random_secret();
    store.put_portal_link(&hash(&token), link).await?;
    let expires_at = DateTime::from_timestamp(link.expires_at, 0).unwrap_or_default();
    Ok((
        format!("{}/portal/link/{token}", base.trim_end_matches('/')),
        expires_at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(now: DateTime<Utc>, ends: DateTime<Utc>) -> Session {
        Session::new("a", Origin::admin(), true, link_scopes(true), now, ends)
    }

    #[test]
    fn csrf_must_match() {
        let now = Utc::now();
        let s = session(now, now + Duration::hours(1));
        assert!(csrf_matches(&s, &s.csrf.clone()));
        assert!(!csrf_matches(&s, ""));
        assert!(!csrf_matches(&s, "x"));
        let other = session(now, now);
        assert!(!csrf_matches(&s, &other.csrf));
    }

    #[test]
    fn a_session_stands_while_its_token_and_its_account_let_it() {
        let now = Utc::now();
        let token = Principal {
            account_id: "a".into(),
            token_id: "t".into(),
            scopes: link_scopes(false),
            token_hash: Some("h".into()),
        };
        let link = PortalLink {
            account_id: "a".into(),
            scopes: link_scopes(true),
            origin: Origin::of(&token),
            expires_at: 0,
        };
        let s = Session::from_link(link, now);
        assert!(s.via_link && s.origin.token_hash.as_deref() == Some("h"));
        assert!(s.stands(None, Some(&token)));
        // Its token revoked, or moved to another account: ended.
        assert!(!s.stands(None, None));
        let elsewhere = Principal {
            account_id: "b".into(),
            ..token.clone()
        };
        assert!(!s.stands(None, Some(&elsewhere)));
        // The account ended its sessions: those begun until then end, later ones stand.
        assert!(!s.stands(Some(now), Some(&token)));
        assert!(s.stands(Some(now - Duration::seconds(1)), Some(&token)));
        // The admin tool's link has no token: only the account can end its session.
        let admin = session(now, now + Duration::hours(1));
        assert!(admin.stands(None, None));
        assert!(!admin.stands(Some(now), None));
    }

    #[test]
    fn sessions_end() {
        use crate::store::Expiring;
        let now = Utc::now();
        let s = session(now, now + Duration::days(30));
        assert_eq!(
            s.expires_at,
            (now + Duration::hours(SESSION_HOURS)).timestamp()
        );
        assert!(s.live_at(now));
        assert!(!s.live_at(now + Duration::hours(SESSION_HOURS)));
        let short = session(now, now + Duration::minutes(5));
        assert!(!short.live_at(now + Duration::minutes(6)));
        assert_ne!(s.csrf, short.csrf);
    }
}
