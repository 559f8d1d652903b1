//! Bearer tokens: how they are made, stored (only as a SHA-256 hash) and checked.
//!
//! A token is looked up by its hash, so no stored value is ever compared with the
//! presented one character by character.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub const TOKEN_PREFIX: &str = "hkl_";
/// Longer presented tokens are refused before any lookup.
const TOKEN_MAX_LEN: usize = 256;

named_enum! {
    pub enum Scope {
        /// Read and write webhooks.
        #[strum(serialize = "webhook")]
        Webhook,
        /// Only read them.
        #[strum(serialize = "webhook.readonly")]
        WebhookReadonly,
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The caller, once its token is known: every request is scoped to this account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub token_id: String,
    pub scopes: Vec<Scope>,
    /// The hash of the token behind the caller: what it leads to (a portal link, and the
    /// session that link starts) ends when that token is revoked.
    pub token_hash: Option<String>,
}

impl Principal {
    /// The most this caller may do: what it sees of credentials follows from it.
    pub fn access(&self) -> Access {
        if self.require(Access::Write).is_ok() {
            Access::Write
        } else {
            Access::Read
        }
    }

    pub fn require(&self, access: Access) -> Result<(), ApiError> {
        let allowed = match access {
            Access::Read => self
                .scopes
                .iter()
                .any(|s| matches!(s, Scope::Webhook | Scope::WebhookReadonly)),
            Access::Write => self.scopes.contains(&Scope::Webhook),
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope {
                required: match access {
                    Access::Read => Scope::WebhookReadonly.as_str(),
                    Access::Write => Scope::Webhook.as_str(),
                },
            })
        }
    }
}

/// A new random token; print it once, store only [`hash_token`] of it.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Extracts the token from an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, ApiError> {
    let header = header.ok_or(ApiError::Unauthenticated(
        "missing Authorization header; send `Authorization: Bearer <token>`",
    ))?;
    let (scheme, token) = header
        .trim()
        .split_once(' ')
        .ok_or(ApiError::Unauthenticated(
            "the Authorization header must be `Bearer <token>`",
        ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthenticated(
            "the Authorization header must use the Bearer scheme",
        ));
    }
    let token = token.trim();
    if token.is_empty() || token.len() > TOKEN_MAX_LEN {
        return Err(ApiError::Unauthenticated("invalid or revoked token"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed_hex() {
        let a = generate_token();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_ne!(a, generate_token());
        let h = hash_token(&a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, hash_token(&a));
        assert_ne!(h, hash_token("other"));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(Some("bearer   abc ")).unwrap(), "abc");
        assert!(bearer_token(None).is_err());
        assert!(bearer_token(Some("Basic abc")).is_err());
        assert!(bearer_token(Some("Bearer")).is_err());
        assert!(bearer_token(Some(&format!("Bearer {}", "x".repeat(300)))).is_err());
    }

    #[test]
    fn scopes() {
        let p = |scopes| Principal {
            account_id: "a".into(),
            token_id: "t".into(),
            scopes,
            token_hash: None,
        };
        let ro = p(vec![Scope::WebhookReadonly]);
        assert!(ro.require(Access::Read).is_ok());
        assert!(matches!(
            ro.require(Access::Write),
            Err(ApiError::InsufficientScope { .. })
        ));
        assert!(p(vec![Scope::Webhook]).require(Access::Write).is_ok());
        assert!(p(vec![]).require(Access::Read).is_err());
    }
}
