//! Standard Webhooks v1 signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`):
//! HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the base64-decoded part of a
//! `whsec_...` secret, sent as `v1,<base64>`. During secret rotation the signature header carries
//! several space-separated entries; a receiver accepts if any matches.
//!
//! # Verifying as a receiver
//! ```
//! use tenants::webhook_signature::{sign, verify};
//! let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
//! let body = br#"{"email":"test@example.com","username":"test_user"}"#;
//! let header = sign(secret, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body).unwrap();
//! assert!(verify(&[secret], "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", "1649367553", &header, body, 1649367553, 300).is_ok());
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a signature could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not `whsec_` followed by base64.
    #[error("webhook secret must be `whsec_` followed by base64")]
    BadSecret,
    /// The timestamp header is not an integer.
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    /// The timestamp is further from now than the tolerance.
    #[error("webhook-timestamp is outside the allowed tolerance")]
    TimestampOutOfTolerance,
    /// No `v1` entry of the header matches.
    #[error("no webhook signature matches")]
    NoMatch,
}

fn key_bytes(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD
        .decode(encoded)
        .map_err(|_| SignatureError::BadSecret)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| SignatureError::BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// The `webhook-signature` entry (`v1,<base64>`) for one secret.
///
/// # Errors
/// [`SignatureError::BadSecret`] when the secret is not `whsec_` + base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    let key = key_bytes(secret)?;
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac(&key, id, timestamp, body)?)
    ))
}

/// The full header value for several secrets (rotation): entries separated by spaces.
///
/// # Errors
/// [`SignatureError::BadSecret`] when any secret is malformed.
pub fn sign_all(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let entries = secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries.join(" "))
}

/// Verifies a delivery as a receiver would: the timestamp within `tolerance_secs` of `now`
/// (both directions), and any `v1` entry of `signature_header` matching any of `secrets`,
/// compared in constant time.
///
/// # Errors
/// [`SignatureError`] saying which check failed.
pub fn verify(
    secrets: &[&str],
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now - ts).abs() > tolerance_secs {
        return Err(SignatureError::TimestampOutOfTolerance);
    }
    for secret in secrets {
        let key = key_bytes(secret)?;
        for entry in signature_header.split_whitespace() {
            let Some(sig) = entry.strip_prefix("v1,") else {
                continue;
            };
            let Ok(sig) = STANDARD.decode(sig) else {
                continue;
            };
            let mut expected =
                Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SignatureError::BadSecret)?;
            expected.update(format!("{id}.{ts}.").as_bytes());
            expected.update(body);
            // `verify_slice` compares in constant time.
            if expected.verify_slice(&sig).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::NoMatch)
}

/// A fresh `whsec_` secret with 32 random bytes.
pub fn generate_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

    #[test]
    fn test_reference_vector_is_reproduced_exactly() {
        assert_eq!(
            sign(SECRET, ID, TS, BODY).unwrap(),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn test_receiver_accepts_reference_vector_and_rejects_tampered_body() {
        let header = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        assert_eq!(
            verify(&[SECRET], ID, "1649367553", header, BODY, TS, 300),
            Ok(())
        );
        assert_eq!(
            verify(&[SECRET], ID, "1649367553", header, b"{}", TS, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn test_rotation_header_verifies_with_either_secret() {
        let new = generate_secret();
        let header = sign_all(&[SECRET, &new], ID, TS, BODY).unwrap();
        assert_eq!(header.split(' ').count(), 2);
        assert_eq!(
            verify(&[SECRET], ID, "1649367553", &header, BODY, TS, 300),
            Ok(())
        );
        assert_eq!(
            verify(&[new.as_str()], ID, "1649367553", &header, BODY, TS, 300),
            Ok(())
        );
    }

    #[test]
    fn test_stale_timestamp_is_refused() {
        let header = sign(SECRET, ID, TS, BODY).unwrap();
        assert_eq!(
            verify(&[SECRET], ID, "1649367553", &header, BODY, TS + 301, 300),
            Err(SignatureError::TimestampOutOfTolerance)
        );
        assert_eq!(
            verify(&[SECRET], ID, "soon", &header, BODY, TS, 300),
            Err(SignatureError::BadTimestamp)
        );
    }
}
