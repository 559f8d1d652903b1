//! Credentials at rest: signing secrets, custom header values, basic-auth passwords,
//! webhook secrets, link keys and the portal's cookie key are sealed before they are
//! written, so that a reader of the table, a backup, an export or a point-in-time restore
//! holds none of them.
//!
//! Envelope encryption, as Svix seals endpoint secrets under a main key: each value is
//! AES-256-GCM under a data key, with a random nonce and, as associated data, what the
//! value belongs to (its account and item), so a sealed value moved to another item does
//! not open. The data key comes from KMS (`GenerateDataKey`, once, by `hookline-admin`);
//! the table holds it only as KMS wrapped it, and each function instance unwraps it with
//! one `Decrypt` on first use and keeps it. A sealed value reads
//! `sealed:v1:<data key id>:<base64url(nonce || ciphertext)>`; a value without that prefix
//! was written before sealing and is read as it is, and sealed when next written.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

const PREFIX: &str = "sealed:v1:";
/// What KMS binds the data key to: a wrapped key made for anything else does not open.
const KMS_CONTEXT: (&str, &str) = ("purpose", "hookline-credentials");

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no data key: run `hookline-admin create-data-key` (creating an account does it)")]
    NoDataKey,
    #[error("no KMS key is configured (DATA_KEY_ID)")]
    NoKms,
    #[error("KMS refused or failed: {0}")]
    Kms(String),
    #[error("a sealed credential does not open: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] crate::store::error::StoreError),
}

/// The data key as the table holds it: wrapped by KMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub key_id: String,
    /// KMS's ciphertext blob, base64.
    pub wrapped: String,
    pub kms_key: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// An unwrapped data key.
pub struct DataKey {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("id", &self.id).finish()
    }
}

impl DataKey {
    /// A key of 32 bytes under `id`.
    pub fn new(id: impl Into<String>, bytes: &[u8]) -> Result<Self, KeyError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| KeyError::Corrupt("a data key is 32 bytes".into()))?;
        Ok(Self {
            id: id.into(),
            key: LessSafeKey::new(key),
        })
    }

    /// `plain` sealed for `owner` (what it belongs to, e.g. `webhook/<account>/<id>`).
    pub fn seal(&self, owner: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM seals any message under 64 GiB");
        let mut sealed = nonce.to_vec();
        sealed.extend(data);
        format!("{PREFIX}{}:{}", self.id, URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The plain value of `value`: opened if sealed (for `owner`), as it is if not.
    pub fn open(&self, owner: &str, value: &str) -> Result<String, KeyError> {
        let Some(rest) = value.strip_prefix(PREFIX) else {
            return Ok(value.to_string());
        };
        let (id, body) = rest
            .split_once(':')
            .ok_or_else(|| KeyError::Corrupt("no data key id".into()))?;
        if id != self.id {
            return Err(KeyError::Corrupt(format!(
                "sealed under data key {id}, not {}",
                self.id
            )));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| KeyError::Corrupt("not base64".into()))?;
        if bytes.len() < NONCE_LEN {
            return Err(KeyError::Corrupt("too short".into()));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| KeyError::Corrupt("bad nonce".into()))?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut sealed)
            .map_err(|_| KeyError::Corrupt(format!("it was altered, or is not {owner}'s")))?;
        String::from_utf8(plain.to_vec()).map_err(|_| KeyError::Corrupt("not UTF-8".into()))
    }
}

/// Whether a stored value is sealed.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// Where the data key comes from: KMS in every function, or a fixed key (unit tests).
#[derive(Clone)]
enum Source {
    Kms {
        client: aws_sdk_kms::Client,
        key_id: String,
    },
    Fixed(Arc<DataKey>),
    None,
}

/// The data key of one function instance: unwrapped on first use, then kept.
#[derive(Clone)]
pub struct Keyring {
    source: Source,
    key: Arc<OnceCell<Arc<DataKey>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring")
    }
}

impl Keyring {
    /// Data keys wrapped by the KMS key `key_id` (its id, alias or ARN).
    pub fn kms(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self::of(Source::Kms {
            client,
            key_id: key_id.into(),
        })
    }

    /// One fixed key, for tests of code that seals.
    pub fn fixed(key: DataKey) -> Self {
        Self::of(Source::Fixed(Arc::new(key)))
    }

    /// No key: plain values read, sealing and sealed values fail.
    pub fn none() -> Self {
        Self::of(Source::None)
    }

    fn of(source: Source) -> Self {
        Self {
            source,
            key: Arc::default(),
        }
    }

    /// The data key: the instance's, or unwrapped now from the table's copy.
    pub async fn data_key(&self, store: &crate::Store) -> Result<Arc<DataKey>, KeyError> {
        self.key
            .get_or_try_init(|| async {
                match &self.source {
                    Source::Fixed(key) => Ok(key.clone()),
                    Source::None => Err(KeyError::NoKms),
                    Source::Kms { client, .. } => {
                        let wrapped = store.get_data_key().await?.ok_or(KeyError::NoDataKey)?;
                        unwrap(client, &wrapped).await.map(Arc::new)
                    }
                }
            })
            .await
            .cloned()
    }

    /// Makes the data key with KMS and stores it wrapped, unless one exists: the admin
    /// tool's, run before any function needs it. Returns its id and whether it was made.
    pub async fn create_data_key(&self, store: &crate::Store) -> Result<(String, bool), KeyError> {
        if let Some(existing) = store.get_data_key().await? {
            return Ok((existing.key_id, false));
        }
        let Source::Kms { client, key_id } = &self.source else {
            return Err(KeyError::NoKms);
        };
        let made = client
            .generate_data_key()
            .key_id(key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .encryption_context(KMS_CONTEXT.0, KMS_CONTEXT.1)
            .send()
            .await
            .map_err(|e| KeyError::Kms(format!("{e:?}")))?;
        let blob = made
            .ciphertext_blob
            .ok_or_else(|| KeyError::Kms("GenerateDataKey gave no ciphertext".into()))?;
        let wrapped = WrappedKey {
            key_id: uuid::Uuid::now_v7().simple().to_string()[..12].to_string(),
            wrapped: base64::engine::general_purpose::STANDARD.encode(blob.as_ref()),
            kms_key: made.key_id.unwrap_or_else(|| key_id.clone()),
            created_at: chrono::Utc::now(),
        };
        if store.put_data_key(&wrapped).await? {
            Ok((wrapped.key_id, true))
        } else {
            // Another made it first: that one is the key.
            let existing = store.get_data_key().await?.ok_or(KeyError::NoDataKey)?;
            Ok((existing.key_id, false))
        }
    }
}

async fn unwrap(client: &aws_sdk_kms::Client, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&wrapped.wrapped)
        .map_err(|_| KeyError::Corrupt("the wrapped data key is not base64".into()))?;
    let plain = client
        .decrypt()
        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob))
        .encryption_context(KMS_CONTEXT.0, KMS_CONTEXT.1)
        .send()
        .await
        .map_err(|e| KeyError::Kms(format!("{e:?}")))?
        .plaintext
        .ok_or_else(|| KeyError::Kms("Decrypt gave no plaintext".into()))?;
    DataKey::new(&wrapped.key_id, plain.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> DataKey {
        DataKey::new(id, &[7u8; 32]).unwrap()
    }

    #[test]
    fn sealed_values_open_only_for_their_owner_and_key() {
        let k = key("k1");
        let sealed = k.seal("webhook/a/w1", "whsec_s3cret");
        assert!(is_sealed(&sealed) && !sealed.contains("s3cret"), "{sealed}");
        assert_ne!(
            sealed,
            k.seal("webhook/a/w1", "whsec_s3cret"),
            "a fresh nonce"
        );
        assert_eq!(k.open("webhook/a/w1", &sealed).unwrap(), "whsec_s3cret");
        // Another owner, an altered value, another key: refused.
        assert!(k.open("webhook/b/w1", &sealed).is_err());
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(k.open("webhook/a/w1", &altered).is_err());
        assert!(key("k2").open("webhook/a/w1", &sealed).is_err());
        let other = DataKey::new("k1", &[8u8; 32]).unwrap();
        assert!(other.open("webhook/a/w1", &sealed).is_err());
        // A value written before sealing reads as it is.
        assert_eq!(k.open("webhook/a/w1", "plain").unwrap(), "plain");
        assert!(k.open("x", "sealed:v1:k1:%%%").is_err());
        assert!(k.open("x", "sealed:v1:k1").is_err());
        assert_eq!(k.open("x", &k.seal("x", "")).unwrap(), "");
    }
}
