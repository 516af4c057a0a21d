//! ID token checks for OpenID Connect sign-in: signature (HS256 keyed by the client secret in
//! sandbox mode; in direct-TLS mode the token came straight from the provider's token endpoint
//! over TLS, which OpenID Connect Core §3.1.3.7 accepts in place of a signature check), then
//! `iss`, `aud`, `exp` (60 s leeway) and `nonce`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;

use crate::auth::provider::rejected;
use crate::auth::same_secret;
use crate::config::{IdTokenCheck, OidcProviderConfig};
use crate::error::ApiError;

/// Clock skew tolerated on `exp`, in seconds.
const EXP_LEEWAY_SECS: i64 = 60;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The ID token claims socialcrm reads.
#[derive(Debug, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    nonce: Option<String>,
    /// The provider's stable subject.
    pub sub: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the provider verified the email.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Avatar URL.
    #[serde(default)]
    pub picture: Option<String>,
}

/// Checks an ID token's signature (per config), issuer, audience, expiry and nonce.
///
/// # Errors
/// 401 naming the first check that failed.
pub fn verify_id_token(
    token: &str,
    config: &OidcProviderConfig,
    issuer: &str,
    nonce: &str,
    now_secs: i64,
) -> Result<IdClaims, ApiError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(rejected("the id_token is not a JWS"));
    };
    if config.id_token_check == IdTokenCheck::Hs256ClientSecret {
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| rejected("the id_token header is unreadable"))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(rejected("the id_token is not signed with HS256"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| rejected("the id_token signature is unreadable"))?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(config.client_secret.expose_secret().as_bytes())
                .map_err(|_| rejected("the client secret cannot key HS256"))?;
        mac.update(format!("{header_b64}.{payload}").as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| rejected("the id_token signature does not match"))?;
    }
    let claims: IdClaims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| rejected("the id_token claims are unreadable"))?;
    let issuer_ok = claims.iss == issuer
        || (issuer == "https://accounts.google.com" && claims.iss == "accounts.google.com");
    if !issuer_ok {
        return Err(rejected("the id_token issuer is not the provider"));
    }
    let audience_ok = match &claims.aud {
        Audience::One(aud) => *aud == config.client_id,
        Audience::Many(list) => list.contains(&config.client_id),
    };
    if !audience_ok {
        return Err(rejected("the id_token audience is not this client"));
    }
    if claims.exp + EXP_LEEWAY_SECS < now_secs {
        return Err(rejected("the id_token has expired"));
    }
    if !claims
        .nonce
        .as_deref()
        .is_some_and(|n| same_secret(n, nonce))
    {
        return Err(rejected("the id_token nonce does not match"));
    }
    if claims.sub.is_empty() {
        return Err(rejected("the id_token has no subject"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    const ISSUER: &str = "http://127.0.0.1:1/google";

    fn config() -> OidcProviderConfig {
        OidcProviderConfig {
            base_url: ISSUER.to_owned(),
            client_id: "client".to_owned(),
            client_secret: SecretString::from("secret"),
            id_token_check: IdTokenCheck::Hs256ClientSecret,
        }
    }

    fn sign(claims: serde_json::Value, key: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
        mac.update(format!("{header}.{payload}").as_bytes());
        format!(
            "{header}.{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"iss": ISSUER, "aud": "client", "exp": 2_000, "nonce": "n1", "sub": "42",
            "name": "Ana", "email": "ana@example.com", "email_verified": true})
    }

    fn check(token: &str) -> Result<IdClaims, ApiError> {
        verify_id_token(token, &config(), ISSUER, "n1", 1_000)
    }

    #[test]
    fn test_valid_id_token_is_accepted() {
        let claims = check(&sign(claims(), "secret")).expect("valid");
        assert_eq!(claims.sub, "42");
    }

    #[test]
    fn test_id_token_with_wrong_signature_nonce_audience_issuer_or_expiry_is_refused() {
        let mut cases = vec![sign(claims(), "other-secret")];
        for (field, value) in [
            ("nonce", serde_json::json!("n2")),
            ("aud", serde_json::json!("someone-else")),
            ("iss", serde_json::json!("https://evil.example")),
            ("exp", serde_json::json!(900)),
        ] {
            let mut c = claims();
            c[field] = value;
            cases.push(sign(c, "secret"));
        }
        let mut no_nonce = claims();
        no_nonce.as_object_mut().expect("object").remove("nonce");
        cases.push(sign(no_nonce, "secret"));
        for token in cases {
            assert!(
                matches!(check(&token), Err(ApiError::Unauthenticated(_))),
                "{token}"
            );
        }
    }
}
