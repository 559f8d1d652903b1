//! One-click action links: a capability for one action on one alert of one account, until
//! it expires. The token is `<claim>.<mac>`, both base64url: the claim is JSON naming the
//! account, alert, action, expiry and key id, and the mac is HMAC-SHA256 over the claim's
//! bytes with the account's link key. Rotating that key (a new id and secret) ends every
//! link made with the old one.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::lifecycle::{decide, Action, ActionName, Decision, Standing};

/// How long a link works.
pub const LINK_LIFETIME: Duration = Duration::days(7);
/// Tokens longer than this are not links (a claim is about 200 bytes).
pub const TOKEN_MAX: usize = 1024;

named_enum! {
    /// The actions a link can take; silences come in two fixed lengths.
    #[strum(serialize_all = "snake_case")]
    pub enum LinkAction {
        Acknowledge,
        Resolve,
        #[strum(serialize = "silence_1h")]
        Silence1h,
        #[strum(serialize = "silence_24h")]
        Silence24h,
        Unsilence,
        /// Highlight's "ignore": hear no more of it until it is unignored or resolved.
        Ignore,
        Unignore,
    }
}

impl LinkAction {
    /// The lifecycle action this link takes when used at `now`.
    pub fn action(self, now: DateTime<Utc>) -> Action {
        match self {
            Self::Acknowledge => Action::Acknowledge,
            Self::Resolve => Action::Resolve,
            Self::Silence1h => Action::Silence {
                until: now + Duration::hours(1),
            },
            Self::Silence24h => Action::Silence {
                until: now + Duration::hours(24),
            },
            Self::Unsilence => Action::Unsilence,
            Self::Ignore => Action::Ignore,
            Self::Unignore => Action::Unignore,
        }
    }

    pub fn name(self) -> ActionName {
        match self {
            Self::Acknowledge => ActionName::Acknowledge,
            Self::Resolve => ActionName::Resolve,
            Self::Silence1h | Self::Silence24h => ActionName::Silence,
            Self::Unsilence => ActionName::Unsilence,
            Self::Ignore => ActionName::Ignore,
            Self::Unignore => ActionName::Unignore,
        }
    }

    /// A button's text.
    pub fn label(self) -> &'static str {
        match self {
            Self::Acknowledge => "Acknowledge",
            Self::Resolve => "Resolve",
            Self::Silence1h => "Silence 1h",
            Self::Silence24h => "Silence 24h",
            Self::Unsilence => "Unsilence",
            Self::Ignore => "Ignore",
            Self::Unignore => "Unignore",
        }
    }

    /// How the page names it: "acknowledge", "silence for 1 hour"...
    pub fn describe(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
            Self::Silence1h => "silence for 1 hour",
            Self::Silence24h => "silence for 24 hours",
            Self::Unsilence => "unsilence",
            Self::Ignore => "ignore (hear no more of it)",
            Self::Unignore => "unignore",
        }
    }

    /// The links that would move an alert standing so (`unsilence` only when silenced).
    pub fn applicable(standing: &Standing, now: DateTime<Utc>) -> Vec<Self> {
        use strum::VariantArray;
        Self::VARIANTS
            .iter()
            .copied()
            .filter(|l| matches!(decide(standing, l.action(now)), Decision::Move { .. }))
            .collect()
    }
}

/// Where an alert's links came from: the base URL they start with and the id of the key
/// that signed them. Items keep this instead of the links, which are signed again from it
/// when read: the same key and transition sign the same links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSource {
    pub base: String,
    pub key_id: String,
}

/// The links of `alert` as its latest transition made them: the actions that applied
/// then, each valid for [`LINK_LIFETIME`] from it. `None` when none applied, or when
/// `key` is not the key that `source` names (it was rotated: those links are dead).
pub fn mint(
    key: &LinkKey,
    source: &LinkSource,
    account_id: &str,
    alert: &super::Alert,
) -> Option<super::Links> {
    let at = alert.last_move()?.at;
    let actions = LinkAction::applicable(&alert.standing(), at);
    if actions.is_empty() || key.id != source.key_id {
        return None;
    }
    let expires_at = at + LINK_LIFETIME;
    let urls = actions
        .into_iter()
        .map(|action| {
            let claim = Claim {
                account_id: account_id.to_string(),
                alert_id: alert.id.clone(),
                action,
                expires_at: expires_at.timestamp(),
                key_id: key.id.clone(),
            };
            let base = source.base.trim_end_matches('/');
            let url = format!("{base}/links/{}", sign(key, &claim));
            (action.as_str().to_string(), url)
        })
        .collect();
    Some(super::Links { expires_at, urls })
}

/// An account's key for links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkKey {
    pub id: String,
    /// 32 random bytes, base64url.
    pub secret: String,
}

impl LinkKey {
    /// A new key from the thread's CSPRNG.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let mut id = [0u8; 6];
        rand::rng().fill_bytes(&mut id);
        Self {
            id: URL_SAFE_NO_PAD.encode(id),
            secret: URL_SAFE_NO_PAD.encode(bytes),
        }
    }

    fn mac(&self, claim: &[u8]) -> Hmac<Sha256> {
        let secret = URL_SAFE_NO_PAD
            .decode(&self.secret)
            .unwrap_or_else(|_| self.secret.as_bytes().to_vec());
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("HMAC takes keys of any length");
        mac.update(claim);
        mac
    }
}

/// What a link grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    #[serde(rename = "a")]
    pub account_id: String,
    #[serde(rename = "l")]
    pub alert_id: String,
    #[serde(rename = "x")]
    pub action: LinkAction,
    /// Unix seconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
    #[serde(rename = "k")]
    pub key_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this is not a Hookline action link")]
    Malformed,
    #[error("this link is not valid: it was altered, forged, or its key was rotated")]
    Invalid,
    #[error("this link has expired")]
    Expired,
}

/// The token for `claim`, signed with `key`.
pub fn sign(key: &LinkKey, claim: &Claim) -> String {
    let json = serde_json::to_vec(claim).unwrap_or_default();
    let mac = key.mac(&json).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(mac)
    )
}

/// A token taken apart, not yet checked: its claim names the account whose key checks it.
pub struct Unverified {
    pub claim: Claim,
    json: Vec<u8>,
    mac: Vec<u8>,
}

/// Takes a token apart.
pub fn open(token: &str) -> Result<Unverified, LinkError> {
    if token.len() > TOKEN_MAX {
        return Err(LinkError::Malformed);
    }
    let (claim, mac) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(claim)
        .map_err(|_| LinkError::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| LinkError::Malformed)?;
    let claim = serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)?;
    Ok(Unverified { claim, json, mac })
}

impl Unverified {
    /// The claim, if `key` (the account's current key, if it has one) signed it and it has
    /// not expired at `now`. The mac is compared in constant time.
    pub fn verify(self, key: Option<&LinkKey>, now: DateTime<Utc>) -> Result<Claim, LinkError> {
        let key = key
            .filter(|k| k.id == self.claim.key_id)
            .ok_or(LinkError::Invalid)?;
        key.mac(&self.json)
            .verify_slice(&self.mac)
            .map_err(|_| LinkError::Invalid)?;
        if self.claim.expires_at <= now.timestamp() {
            return Err(LinkError::Expired);
        }
        Ok(self.claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::lifecycle::AlertState;
    use chrono::TimeZone;

    fn key(byte: u8) -> LinkKey {
        LinkKey {
            id: format!("k{byte}"),
            secret: URL_SAFE_NO_PAD.encode([byte; 32]),
        }
    }

    fn claim() -> Claim {
        Claim {
            account_id: "acct".into(),
            alert_id: "alert-1".into(),
            action: LinkAction::Acknowledge,
            expires_at: 2_000_000_000,
            key_id: "k1".into(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000, 0).unwrap()
    }

    #[test]
    fn a_signed_link_verifies_with_its_key_only() {
        let token = sign(&key(1), &claim());
        assert_eq!(
            open(&token).unwrap().verify(Some(&key(1)), now()),
            Ok(claim())
        );
        // Rotated: a new key id, or the same id with a new secret.
        let rotated = LinkKey {
            id: "k2".into(),
            ..key(1)
        };
        assert_eq!(
            open(&token).unwrap().verify(Some(&rotated), now()),
            Err(LinkError::Invalid)
        );
        let resecreted = LinkKey {
            id: "k1".into(),
            ..key(2)
        };
        assert_eq!(
            open(&token).unwrap().verify(Some(&resecreted), now()),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            open(&token).unwrap().verify(None, now()),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn altered_claims_fail() {
        let token = sign(&key(1), &claim());
        let (_, mac) = token.split_once('.').unwrap();
        for altered in [
            Claim {
                account_id: "other".into(),
                ..claim()
            },
            Claim {
                alert_id: "alert-2".into(),
                ..claim()
            },
            Claim {
                action: LinkAction::Resolve,
                ..claim()
            },
            Claim {
                expires_at: 2_100_000_000,
                ..claim()
            },
        ] {
            let forged = format!(
                "{}.{mac}",
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&altered).unwrap())
            );
            assert_eq!(
                open(&forged).unwrap().verify(Some(&key(1)), now()),
                Err(LinkError::Invalid)
            );
        }
    }

    #[test]
    fn expired_and_malformed_links_fail() {
        let token = sign(
            &key(1),
            &Claim {
                expires_at: now().timestamp(),
                ..claim()
            },
        );
        assert_eq!(
            open(&token).unwrap().verify(Some(&key(1)), now()),
            Err(LinkError::Expired)
        );
        for bad in ["", "abc", "a.b", "!!.??", &"x".repeat(2000)] {
            assert!(matches!(open(bad), Err(LinkError::Malformed)), "{bad}");
        }
    }

    #[test]
    fn links_follow_the_state() {
        let standing = |state| Standing {
            state,
            silenced_until: None,
            escalate_at: None,
            escalated: false,
        };
        use LinkAction::*;
        assert_eq!(
            LinkAction::applicable(&standing(AlertState::Triggered), now()),
            [Acknowledge, Resolve, Silence1h, Silence24h, Ignore]
        );
        assert_eq!(
            LinkAction::applicable(&standing(AlertState::Silenced), now()),
            [
                Acknowledge,
                Resolve,
                Silence1h,
                Silence24h,
                Unsilence,
                Ignore
            ]
        );
        assert_eq!(
            LinkAction::applicable(&standing(AlertState::Ignored), now()),
            [Resolve, Unignore]
        );
        assert!(LinkAction::applicable(&standing(AlertState::Resolved), now()).is_empty());
        assert_eq!(LinkAction::parse("silence_24h"), Some(Silence24h));
    }

    proptest::proptest! {
        /// A token with any one character changed, added or taken away is refused.
        #[test]
        fn any_altered_token_is_refused(
            at in proptest::prelude::any::<proptest::sample::Index>(),
            with in proptest::sample::select(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ %"
                    .chars()
                    .collect::<Vec<_>>(),
            ),
            how in 0u8..3,
        ) {
            let token = sign(&key(1), &claim());
            let mut chars: Vec<char> = token.chars().collect();
            let i = at.index(chars.len());
            match how {
                0 if chars[i] != with => chars[i] = with,
                0 => return Ok(()),
                1 => chars.insert(i, with),
                _ => {
                    chars.remove(i);
                }
            }
            let altered: String = chars.into_iter().collect();
            let verdict = open(&altered).and_then(|u| u.verify(Some(&key(1)), now()));
            proptest::prop_assert!(verdict.is_err(), "{altered} was accepted");
        }
    }

    #[test]
    fn links_are_signed_again_alike_and_die_with_their_key() {
        let mut alert = crate::alert::Alert::new(
            "alert-1".into(),
            crate::alert::AlertInput::parse(&serde_json::json!({"type": "t", "message": "m"}))
                .unwrap(),
            now(),
        );
        let source = LinkSource {
            base: "https://api.example/".into(),
            key_id: "k1".into(),
        };
        // No transition yet: nothing to act on.
        assert_eq!(mint(&key(1), &source, "acct", &alert), None);
        alert.record_move(
            crate::event::EventType::AlertTriggered,
            Standing {
                state: AlertState::Triggered,
                silenced_until: None,
                escalate_at: None,
                escalated: false,
            },
            crate::alert::lifecycle::Actor::Queue,
            now(),
        );
        let links = mint(&key(1), &source, "acct", &alert).unwrap();
        assert_eq!(links.expires_at, now() + LINK_LIFETIME);
        assert_eq!(Some(links.clone()), mint(&key(1), &source, "acct", &alert));
        let ack = &links.urls["acknowledge"];
        assert!(ack.starts_with("https://api.example/links/"), "{ack}");
        let token = ack.rsplit('/').next().unwrap();
        let opened = open(token).unwrap();
        assert_eq!(opened.claim.action, LinkAction::Acknowledge);
        assert_eq!(opened.claim.expires_at, (now() + LINK_LIFETIME).timestamp());
        // A rotated key does not make the old links again.
        assert_eq!(mint(&key(2), &source, "acct", &alert), None);
    }
}
