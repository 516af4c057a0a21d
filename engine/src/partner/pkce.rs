//! PKCE (RFC 7636) for the platform OAuth hand-off: a random verifier kept server-side until the
//! callback, and its S256 challenge sent in the authorization URL. Also the random `state` value
//! that ties a callback to the request that started it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The challenge method this client always uses.
pub const CHALLENGE_METHOD: &str = "S256";

/// A PKCE pair: the secret verifier and its public challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    verifier: SecretString,
    challenge: String,
}

impl Pkce {
    /// A fresh pair from 32 random bytes (a 43-character verifier).
    pub fn generate() -> Self {
        Self::from_verifier(SecretString::from(random_token(32)))
    }

    /// The pair for a verifier kept from earlier (for example in the pending-connection row).
    pub fn from_verifier(verifier: SecretString) -> Self {
        let challenge = s256_challenge(verifier.expose_secret());
        Self {
            verifier,
            challenge,
        }
    }

    /// The verifier, sent only with the code exchange.
    pub fn verifier(&self) -> &SecretString {
        &self.verifier
    }

    /// The S256 challenge, sent in the authorization URL.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

/// `BASE64URL(SHA256(verifier))` without padding.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A URL-safe random string from `num_bytes` random bytes, for `state` and verifiers.
pub fn random_token(num_bytes: usize) -> String {
    let mut bytes = vec![0u8; num_bytes];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_challenge_matches_the_rfc_7636_example() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn test_generated_verifiers_are_long_enough_and_distinct() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        let len = a.verifier().expose_secret().len();
        assert!((43..=128).contains(&len));
        assert_ne!(a.verifier().expose_secret(), b.verifier().expose_secret());
        assert_eq!(a.challenge(), s256_challenge(a.verifier().expose_secret()));
        assert!(!format!("{a:?}").contains(a.verifier().expose_secret()));
    }
}
