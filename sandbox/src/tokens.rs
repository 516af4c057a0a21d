//! The platform side of OAuth: authorization codes, grants, access and refresh tokens, and the
//! platform users they belong to. The Outstand stand-in checks publish credentials against this
//! table, so a token that expired by the sandbox clock, or was revoked, stops publishing.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tenants::Platform;

/// Whether refresh tokens are single use on `platform` (each refresh returns a new one).
pub(crate) fn rotates_refresh_tokens(platform: Platform) -> bool {
    matches!(
        platform,
        Platform::X | Platform::Tiktok | Platform::Pinterest | Platform::Bluesky
    )
}

/// A fresh unguessable token with a readable prefix.
pub(crate) fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Checks a PKCE `code_verifier` against the `code_challenge` given at authorization.
pub(crate) fn pkce_matches(challenge: &str, method: &str, verifier: &str) -> bool {
    if method.eq_ignore_ascii_case("plain") {
        return challenge == verifier;
    }
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// `now + secs`, saturating.
pub(crate) fn after(now: Timestamp, secs: i64) -> Timestamp {
    now.checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::MAX)
}

/// Whole seconds from `now` until `at`, never negative.
pub(crate) fn secs_until(now: Timestamp, at: Timestamp) -> i64 {
    at.duration_since(now).as_secs().max(0)
}

/// A PKCE challenge given at authorization.
#[derive(Clone)]
pub(crate) struct Challenge {
    pub challenge: String,
    pub method: String,
}

/// An authorization code waiting to be exchanged.
#[derive(Clone)]
pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub challenge: Option<Challenge>,
    pub expires_at: Timestamp,
    /// For platform OAuth: reconnect this existing user instead of creating one.
    pub login_hint: Option<String>,
}

/// How long an authorization code can be exchanged.
pub(crate) const CODE_LIFETIME_SECS: i64 = 600;

/// A user on a social platform; its id is also the partner account id.
#[derive(Clone)]
pub(crate) struct PlatformUser {
    pub id: String,
    pub platform: Platform,
    pub username: String,
    pub name: String,
    pub connected_at: Timestamp,
}

/// One user's consent to one client.
struct Grant {
    platform: Platform,
    user_id: String,
    scope: String,
    revoked: bool,
    invalidated: bool,
    /// Fixed refresh-token end for non-rotating platforms (the LinkedIn model).
    refresh_expires_at: Timestamp,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

struct TokenRecord {
    kind: Kind,
    grant: usize,
    expires_at: Timestamp,
    /// A rotated refresh token that was already used.
    spent: bool,
}

/// Tokens issued by one successful token-endpoint call.
pub(crate) struct Issued {
    pub access_token: String,
    pub scope: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub refresh_expires_in: i64,
    pub user: PlatformUser,
}

/// Why a presented access token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// Expired by the sandbox clock.
    Expired,
    /// Unknown, revoked, a refresh token, or another account's.
    Invalid,
}

/// Token lifetimes, in seconds.
#[derive(Clone, Copy)]
pub(crate) struct Lifetimes {
    pub access_secs: i64,
    pub refresh_secs: i64,
}

/// All platform OAuth state.
#[derive(Default)]
pub(crate) struct TokenStore {
    codes: HashMap<String, (Platform, AuthCode)>,
    tokens: HashMap<String, TokenRecord>,
    grants: Vec<Grant>,
    users: HashMap<String, PlatformUser>,
    num_users: HashMap<Platform, u64>,
}

impl TokenStore {
    pub fn add_code(&mut self, platform: Platform, code: String, auth: AuthCode) {
        self.codes.insert(code, (platform, auth));
    }

    /// Takes a code out of the store: codes are single use whatever happens next.
    pub fn take_code(&mut self, platform: Platform, code: &str) -> Option<AuthCode> {
        match self.codes.remove(code) {
            Some((p, auth)) if p == platform => Some(auth),
            Some(other) => {
                self.codes.insert(code.to_owned(), other);
                None
            }
            None => None,
        }
    }

    pub fn user(&self, id: &str) -> Option<&PlatformUser> {
        self.users.get(id)
    }

    fn new_user(&mut self, platform: Platform, now: Timestamp) -> PlatformUser {
        let n = self.num_users.entry(platform).or_insert(0);
        *n += 1;
        let user = PlatformUser {
            id: format!("acct_{platform}_{n}"),
            platform,
            username: format!("{platform}_user_{n}"),
            name: format!("Sandbox {platform} user {n}"),
            connected_at: now,
        };
        self.users.insert(user.id.clone(), user.clone());
        user
    }

    /// Creates a grant for a fresh (or, with a matching `login_hint`, the same) user.
    pub fn grant(
        &mut self,
        platform: Platform,
        login_hint: Option<&str>,
        scope: &str,
        now: Timestamp,
        life: Lifetimes,
    ) -> Issued {
        let user = match login_hint.and_then(|id| self.users.get(id)) {
            Some(existing) if existing.platform == platform => existing.clone(),
            _ => self.new_user(platform, now),
        };
        self.grants.push(Grant {
            platform,
            user_id: user.id.clone(),
            scope: scope.to_owned(),
            revoked: false,
            invalidated: false,
            refresh_expires_at: after(now, life.refresh_secs),
        });
        let grant = self.grants.len() - 1;
        let refresh_token = self.issue(Kind::Refresh, grant, after(now, life.refresh_secs));
        let access_token = self.issue(Kind::Access, grant, after(now, life.access_secs));
        Issued {
            access_token,
            scope: scope.to_owned(),
            refresh_token,
            expires_in: life.access_secs,
            refresh_expires_in: life.refresh_secs,
            user,
        }
    }

    fn issue(&mut self, kind: Kind, grant: usize, expires_at: Timestamp) -> String {
        let prefix = match kind {
            Kind::Access => "sbx_at",
            Kind::Refresh => "sbx_rt",
        };
        let token = random_secret(prefix);
        let record = TokenRecord {
            kind,
            grant,
            expires_at,
            spent: false,
        };
        self.tokens.insert(token.clone(), record);
        token
    }

    /// The refresh-token grant. `None` means `invalid_grant`.
    pub fn refresh(
        &mut self,
        platform: Platform,
        refresh_token: &str,
        now: Timestamp,
        life: Lifetimes,
    ) -> Option<Issued> {
        let record = self.tokens.get(refresh_token)?;
        let grant_idx = record.grant;
        let grant = self.grants.get(grant_idx)?;
        let usable = record.kind == Kind::Refresh
            && !record.spent
            && now < record.expires_at
            && grant.platform == platform
            && !grant.revoked
            && !grant.invalidated;
        if !usable {
            return None;
        }
        let user = self.users.get(&grant.user_id)?.clone();
        let scope = grant.scope.clone();
        let (refresh_token, refresh_expires_at) = if rotates_refresh_tokens(platform) {
            if let Some(old) = self.tokens.get_mut(refresh_token) {
                old.spent = true;
            }
            let expires_at = after(now, life.refresh_secs);
            (self.issue(Kind::Refresh, grant_idx, expires_at), expires_at)
        } else {
            (refresh_token.to_owned(), grant.refresh_expires_at)
        };
        let access_token = self.issue(Kind::Access, grant_idx, after(now, life.access_secs));
        Some(Issued {
            access_token,
            scope,
            refresh_token,
            expires_in: life.access_secs,
            refresh_expires_in: secs_until(now, refresh_expires_at),
            user,
        })
    }

    /// Revokes `token` and its whole grant. Returns the user whose grant died, if any.
    pub fn revoke(&mut self, platform: Platform, token: &str) -> Option<String> {
        let grant = self.tokens.get(token)?.grant;
        let grant = self
            .grants
            .get_mut(grant)
            .filter(|g| g.platform == platform)?;
        grant.revoked = true;
        Some(grant.user_id.clone())
    }

    /// Makes the next refresh of matching grants fail. Returns how many grants matched.
    pub fn invalidate(
        &mut self,
        platform: Platform,
        refresh_token: Option<&str>,
        user_id: Option<&str>,
    ) -> usize {
        let by_token = refresh_token
            .and_then(|t| self.tokens.get(t))
            .filter(|r| r.kind == Kind::Refresh)
            .map(|r| r.grant);
        let mut num_invalidated = 0;
        for (idx, grant) in self.grants.iter_mut().enumerate() {
            let matches = grant.platform == platform
                && (by_token == Some(idx) || user_id.is_some_and(|u| u == grant.user_id));
            if matches {
                grant.invalidated = true;
                num_invalidated += 1;
            }
        }
        num_invalidated
    }

    /// Checks an access token presented for publishing to `account`.
    pub fn check_access(
        &self,
        token: &str,
        account: &str,
        now: Timestamp,
    ) -> Result<&PlatformUser, TokenProblem> {
        let record = self.tokens.get(token).ok_or(TokenProblem::Invalid)?;
        let grant = self.grants.get(record.grant).ok_or(TokenProblem::Invalid)?;
        if record.kind != Kind::Access || grant.revoked || grant.user_id != account {
            return Err(TokenProblem::Invalid);
        }
        if now >= record.expires_at {
            return Err(TokenProblem::Expired);
        }
        self.users.get(account).ok_or(TokenProblem::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Lifetimes = Lifetimes {
        access_secs: 60,
        refresh_secs: 600,
    };

    #[test]
    fn test_pkce_s256_matches_rfc7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(challenge, "S256", verifier));
        assert!(!pkce_matches(challenge, "S256", "wrong"));
    }

    #[test]
    fn test_access_token_expires_with_the_clock() {
        let mut store = TokenStore::default();
        let t0 = Timestamp::UNIX_EPOCH;
        let issued = store.grant(Platform::Linkedin, None, "w_member_social", t0, LIFE);
        let account = issued.user.id.clone();
        assert!(
            store
                .check_access(&issued.access_token, &account, t0)
                .is_ok()
        );
        assert_eq!(
            store
                .check_access(&issued.access_token, &account, after(t0, 60))
                .err(),
            Some(TokenProblem::Expired)
        );
        assert_eq!(
            store
                .check_access(&issued.access_token, "someone_else", t0)
                .err(),
            Some(TokenProblem::Invalid)
        );
    }

    #[test]
    fn test_non_rotating_refresh_keeps_token_and_fixed_end() {
        let mut store = TokenStore::default();
        let t0 = Timestamp::UNIX_EPOCH;
        let first = store.grant(Platform::Linkedin, None, "w_member_social", t0, LIFE);
        let second = store
            .refresh(
                Platform::Linkedin,
                &first.refresh_token,
                after(t0, 100),
                LIFE,
            )
            .expect("refresh works");
        assert_eq!(second.refresh_token, first.refresh_token);
        assert_eq!(second.refresh_expires_in, 500);
        assert!(
            store
                .refresh(
                    Platform::Linkedin,
                    &first.refresh_token,
                    after(t0, 600),
                    LIFE
                )
                .is_none()
        );
    }
}
