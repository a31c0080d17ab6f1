//! Voice licences: a signed JSON document saying which device may use which voice, verifiable
//! offline with the server's public key.
//!
//! The licence file is compact JSON:
//!
//! ```json
//! {"format":"voicegate-licence-1","key_id":"<16 hex>","payload":"<b64url>","signature":"<b64url>"}
//! ```
//!
//! `payload` is the base64url (no padding) of the payload JSON bytes ([`LicencePayload`]);
//! `signature` is the base64url (no padding) of the Ed25519 signature of exactly those bytes.
//! `key_id` is the first 16 hex digits of the SHA-256 of the 32-byte public key. The key is
//! generated once into `data_dir/licence.key` (mode 0600).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::key_file;

/// File name of the licence signing key inside `data_dir`.
pub const LICENCE_KEY_FILE: &str = "licence.key";

/// The `format` of licence files this module writes and reads.
pub const LICENCE_FORMAT: &str = "voicegate-licence-1";

/// What a licence grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicencePayload {
    /// The licensed voice.
    pub voice_id: String,
    /// The device allowed to use it.
    pub device_id: String,
    /// When it was issued, in Unix seconds.
    pub issued_at: UnixTime,
    /// When it stops being valid, in Unix seconds; `null` for never.
    pub expires_at: Option<UnixTime>,
    /// Who issued it: the server's public URL, or `voicegate`.
    pub issuer: String,
    /// The signing key's id ([`key_id`]); [`LicenceKey::issue`] fills it in.
    pub key_id: String,
}

impl LicencePayload {
    /// Whether the licence has expired at `now` (Unix seconds).
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expires_at.is_some_and(|expires| now >= expires)
    }
}

/// The licence file, as stored and sent.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenceFile {
    format: String,
    key_id: String,
    payload: String,
    signature: String,
}

/// A licence or licence key that is not what it should be.
#[derive(Debug, thiserror::Error)]
pub enum LicenceError {
    /// The key file could not be read, written or understood.
    #[error("licence key {path}: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The public key is not a 32-byte Ed25519 key.
    #[error("not an Ed25519 public key: {0}")]
    BadPublicKey(String),
    /// The bytes are not a licence file.
    #[error("not a voicegate licence: {0}")]
    Malformed(String),
    /// The licence names another key than the one it is checked with.
    #[error("the licence was signed by key {found}, not {expected}")]
    WrongKey {
        /// The licence's `key_id`.
        found: String,
        /// The checking key's id.
        expected: String,
    },
    /// The signature does not match the payload and key.
    #[error("the licence signature is not valid")]
    BadSignature,
}

/// The server's licence signing key.
pub struct LicenceKey {
    signing: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for LicenceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LicenceKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public_key: &[u8; 32]) -> String {
    Sha256::digest(public_key)[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl LicenceKey {
    /// Loads `data_dir/licence.key`, generating it first if it does not exist. The key file is
    /// written whole to a private temporary file and linked into place, so it is never seen
    /// partial, even if two processes start together.
    pub fn load_or_generate(data_dir: &Path) -> Result<Self, LicenceError> {
        let path = data_dir.join(LICENCE_KEY_FILE);
        let err = |reason: String| LicenceError::Key {
            path: path.display().to_string(),
            reason,
        };
        let seed = key_file::load_or_generate(&path).map_err(|e| err(e.to_string()))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|bytes: Vec<u8>| err(format!("holds {} bytes, 32 are needed", bytes.len())))?;
        Ok(Self::from_seed(&seed))
    }

    fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let key_id = key_id(&signing.verifying_key().to_bytes());
        Self { signing, key_id }
    }

    /// The key's id, as licences name it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs a licence for `payload` and answers the licence file. The payload's `key_id` is
    /// set to this key's id, whatever it was.
    pub fn issue(&self, payload: &LicencePayload) -> Vec<u8> {
        let payload = LicencePayload {
            key_id: self.key_id.clone(),
            ..payload.clone()
        };
        let payload = serde_json::to_vec(&payload).expect("a licence payload serializes");
        let signature = self.signing.sign(&payload);
        let file = LicenceFile {
            format: LICENCE_FORMAT.into(),
            key_id: self.key_id.clone(),
            payload: URL_SAFE_NO_PAD.encode(&payload),
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        };
        serde_json::to_vec(&file).expect("a licence file serializes")
    }

    /// The public key as published for offline verification:
    /// `{"algorithm":"Ed25519","key_id":…,"public_key":"<base64url>"}`.
    pub fn public_key_document(&self) -> serde_json::Value {
        serde_json::json!({
            "algorithm": "Ed25519",
            "key_id": self.key_id,
            "public_key": URL_SAFE_NO_PAD.encode(self.public_key()),
        })
    }
}

/// Checks a licence file against a 32-byte Ed25519 public key and answers what it grants.
/// Expiry is the caller's to judge ([`LicencePayload::is_expired`]). Base64 is decoded strictly
/// (no padding, no stray bits), so no two encodings of one licence are accepted.
pub fn verify(licence: &[u8], public_key: &[u8]) -> Result<LicencePayload, LicenceError> {
    let public_key: &[u8; 32] = public_key
        .try_into()
        .map_err(|_| LicenceError::BadPublicKey(format!("{} bytes, not 32", public_key.len())))?;
    let verifying = VerifyingKey::from_bytes(public_key)
        .map_err(|e| LicenceError::BadPublicKey(e.to_string()))?;
    let expected = key_id(public_key);
    let file: LicenceFile =
        serde_json::from_slice(licence).map_err(|e| LicenceError::Malformed(e.to_string()))?;
    if file.format != LICENCE_FORMAT {
        return Err(LicenceError::Malformed(format!(
            "format {:?}, not {LICENCE_FORMAT:?}",
            file.format
        )));
    }
    if file.key_id != expected {
        return Err(LicenceError::WrongKey {
            found: file.key_id,
            expected,
        });
    }
    let base64 = |field: &str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|e| LicenceError::Malformed(format!("{field}: {e}")))
    };
    let payload = base64("payload", &file.payload)?;
    let signature = base64("signature", &file.signature)?;
    let signature = Signature::from_slice(&signature).map_err(|_| LicenceError::BadSignature)?;
    verifying
        .verify_strict(&payload, &signature)
        .map_err(|_| LicenceError::BadSignature)?;
    let payload: LicencePayload = serde_json::from_slice(&payload)
        .map_err(|e| LicenceError::Malformed(format!("payload: {e}")))?;
    if payload.key_id != file.key_id {
        return Err(LicenceError::Malformed(
            "the payload names another key than the file".into(),
        ));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn payload() -> LicencePayload {
        LicencePayload {
            voice_id: "voice-42".into(),
            device_id: "kitchen-speaker".into(),
            issued_at: 1_700_000_000,
            expires_at: Some(1_800_000_000),
            issuer: "https://voicegate.example".into(),
            key_id: String::new(),
        }
    }

    #[test]
    fn an_issued_licence_verifies_and_has_the_documented_shape() {
        let dir = tempfile::tempdir().unwrap();
        let key = LicenceKey::load_or_generate(dir.path()).unwrap();
        let licence = key.issue(&payload());
        let granted = verify(&licence, &key.public_key()).unwrap();
        assert_eq!(
            granted,
            LicencePayload {
                key_id: key.key_id().to_string(),
                ..payload()
            }
        );
        assert!(!granted.is_expired(1_799_999_999));
        assert!(granted.is_expired(1_800_000_000));

        let file: serde_json::Value = serde_json::from_slice(&licence).unwrap();
        let text = std::str::from_utf8(&licence).unwrap();
        assert!(text.starts_with("{\"format\":\"voicegate-licence-1\",\"key_id\":\""));
        assert!(!text.contains(' ') && !text.contains('\n'));
        let public_key = key.public_key();
        let id = file["key_id"].as_str().unwrap();
        assert_eq!(id, key.key_id());
        assert_eq!(id.len(), 16);
        // SHA-256 in hex, as the blob store names bytes.
        let digest = crate::store::blobs::BlobId::of(&public_key);
        assert_eq!(id, &digest.as_str()[..16]);
        let payload_json = URL_SAFE_NO_PAD
            .decode(file["payload"].as_str().unwrap())
            .unwrap();
        let payload_json: serde_json::Value = serde_json::from_slice(&payload_json).unwrap();
        assert_eq!(payload_json["expires_at"], 1_800_000_000);
        assert_eq!(payload_json["key_id"], id);

        let document = key.public_key_document();
        assert_eq!(document["algorithm"], "Ed25519");
        assert_eq!(document["key_id"], id);
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(document["public_key"].as_str().unwrap())
                .unwrap(),
            public_key
        );

        let never = LicencePayload {
            expires_at: None,
            ..payload()
        };
        let granted = verify(&key.issue(&never), &public_key).unwrap();
        assert_eq!(granted.expires_at, None);
        assert!(!granted.is_expired(i64::MAX));
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = LicenceKey::load_or_generate(dir.path()).unwrap();
        let licence = key.issue(&payload());
        let public_key = key.public_key();
        for position in 0..licence.len() {
            let mut tampered = licence.clone();
            tampered[position] ^= 0x01;
            assert!(
                verify(&tampered, &public_key).is_err(),
                "flipping byte {position} ({:?}) went unnoticed",
                char::from(licence[position])
            );
        }
    }

    #[test]
    fn other_encodings_of_the_same_bytes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = LicenceKey::load_or_generate(dir.path()).unwrap();
        let licence = key.issue(&payload());
        let public_key = key.public_key();
        let file: serde_json::Value = serde_json::from_slice(&licence).unwrap();
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        // 64 signature bytes are 86 characters; the last one carries 2 bits and 4 zero bits.
        let signature = file["signature"].as_str().unwrap();
        let last = signature.as_bytes()[85];
        let value = ALPHABET.iter().position(|c| *c == last).unwrap();
        assert_eq!(value % 16, 0);
        let stray_bits = format!("{}{}", &signature[..85], char::from(ALPHABET[value + 1]));
        for signature in [stray_bits, format!("{signature}==")] {
            let mut file = file.clone();
            file["signature"] = signature.clone().into();
            let other = serde_json::to_vec(&file).unwrap();
            assert!(
                matches!(verify(&other, &public_key), Err(LicenceError::Malformed(_))),
                "{signature}"
            );
        }
    }

    #[test]
    fn another_key_refuses_the_licence() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let key = LicenceKey::load_or_generate(first.path()).unwrap();
        let other = LicenceKey::load_or_generate(second.path()).unwrap();
        assert_ne!(key.public_key(), other.public_key());
        let licence = key.issue(&payload());
        assert!(matches!(
            verify(&licence, &other.public_key()),
            Err(LicenceError::WrongKey { .. })
        ));
        // Even when the licence claims the other key's id, the signature gives it away.
        let mut file: serde_json::Value = serde_json::from_slice(&licence).unwrap();
        file["key_id"] = other.key_id().into();
        let relabelled = serde_json::to_vec(&file).unwrap();
        assert!(matches!(
            verify(&relabelled, &other.public_key()),
            Err(LicenceError::BadSignature)
        ));
        assert!(matches!(
            verify(&licence, &key.public_key()[..31]),
            Err(LicenceError::BadPublicKey(_))
        ));
    }

    #[test]
    fn the_key_is_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = LicenceKey::load_or_generate(dir.path()).unwrap();
        let second = LicenceKey::load_or_generate(dir.path()).unwrap();
        assert_eq!(first.public_key(), second.public_key());
        assert_eq!(first.key_id(), second.key_id());
        let licence = first.issue(&payload());
        assert!(verify(&licence, &second.public_key()).is_ok());
        let path = dir.path().join(LICENCE_KEY_FILE);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [LICENCE_KEY_FILE]);
        // Debug names the key and nothing of its secret half.
        assert_eq!(
            format!("{first:?}"),
            format!("LicenceKey {{ key_id: {:?}, .. }}", first.key_id)
        );
    }

    #[test]
    fn a_damaged_key_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(LICENCE_KEY_FILE),
            STANDARD.encode([7u8; 16]),
        )
        .unwrap();
        let err = LicenceKey::load_or_generate(dir.path()).unwrap_err();
        assert!(err.to_string().contains("32 are needed"), "{err}");
    }
}
