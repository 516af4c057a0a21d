//! The server side of the OAuth hand-off that connects a social account.
//!
//! `POST /v1/workspaces/{ws}/accounts/connect` records a [`PendingConnect`] (workspace, caller,
//! platform, PKCE verifier) under a random `state` and answers the platform's authorization URL.
//! The platform sends the browser back to [`CALLBACK_PATH`] with `code` and `state`; the callback
//! takes the pending connect (once: a state is single use), exchanges the code with the verifier
//! and hands the tokens to the engine. Pending connects live in this node's memory for
//! [`CONNECT_TTL`]; a callback that lands on another node, or after a restart, must start again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use engine::partner::{OAuthApp, PlatformOAuthClient, pkce};
use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;
use tenants::{Platform, WorkspaceId};

use crate::auth::Principal;
use crate::config::GatewayConfig;
use crate::error::ApiError;

/// How long a started connect may wait for its callback.
pub const CONNECT_TTL: SignedDuration = SignedDuration::from_mins(10);
/// Where platforms send the browser back to (appended to the public base URL).
pub const CALLBACK_PATH: &str = "/v1/accounts/callback";
/// Pending connects kept at most; past this, new connects are refused until some expire.
const MAX_PENDING: usize = 10_000;
/// Timeout of each call to a platform's token endpoint.
const OAUTH_TIMEOUT: Duration = Duration::from_secs(15);

/// A connect waiting for the platform's callback.
#[derive(Debug)]
pub struct PendingConnect {
    /// The workspace the account will join.
    pub workspace_id: WorkspaceId,
    /// Who started it; re-authorized at the callback.
    pub principal: Principal,
    /// The platform asked for.
    pub platform: Platform,
    /// The PKCE verifier, sent only with the code exchange.
    pub verifier: SecretString,
    /// After this the state is refused.
    pub expires_at: Timestamp,
}

/// The pending connects of this node, and the platform OAuth client built from the config.
#[derive(Debug)]
pub struct PendingConnects {
    oauth: Option<PlatformOAuthClient>,
    pending: Mutex<HashMap<String, PendingConnect>>,
}

impl PendingConnects {
    /// Builds the OAuth client for `{oauth_base_url}/{platform}`; none when the base is empty
    /// (connect then answers 503).
    pub fn from_config(config: &GatewayConfig) -> Self {
        let base = config.oauth_base_url.trim_end_matches('/');
        let oauth = if base.is_empty() {
            None
        } else {
            let apps = Platform::ALL
                .into_iter()
                .map(|p| {
                    let secret = config.oauth_client_secret.clone();
                    OAuthApp::under(
                        &format!("{base}/{p}"),
                        config.oauth_client_id.clone(),
                        secret,
                    )
                    .map(|app| (p, app))
                })
                .collect::<Result<HashMap<_, _>, _>>()
                .and_then(|apps| PlatformOAuthClient::new(apps, OAUTH_TIMEOUT));
            match apps {
                Ok(client) => Some(client),
                Err(err) => {
                    tracing::warn!(error = %err, "platform oauth is misconfigured; account connect is disabled");
                    None
                }
            }
        };
        Self {
            oauth,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// The platform OAuth client.
    ///
    /// # Errors
    /// 503 when platform OAuth is not configured.
    pub fn oauth(&self) -> Result<&PlatformOAuthClient, ApiError> {
        self.oauth
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("platform oauth is not configured".to_owned()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingConnect>> {
        // Every update is a single map operation, so the map is consistent even after a panic.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `connect` under a fresh random state and returns the state.
    ///
    /// # Errors
    /// 503 when too many connects are pending.
    pub fn start(&self, connect: PendingConnect, now: Timestamp) -> Result<String, ApiError> {
        let state = pkce::random_token(32);
        let mut pending = self.lock();
        pending.retain(|_, p| p.expires_at > now);
        if pending.len() >= MAX_PENDING {
            return Err(ApiError::Unavailable(
                "too many account connects are pending".to_owned(),
            ));
        }
        pending.insert(state.clone(), connect);
        Ok(state)
    }

    /// Takes the connect kept under `state`, if it exists and has not expired. A state works
    /// once.
    pub fn take(&self, state: &str, now: Timestamp) -> Option<PendingConnect> {
        self.lock().remove(state).filter(|p| p.expires_at > now)
    }
}

/// The scopes asked of each platform: enough to read the profile and publish.
pub fn scopes(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::X => &["tweet.read", "tweet.write", "users.read", "offline.access"],
        Platform::Linkedin => &["openid", "profile", "w_member_social"],
        Platform::Instagram => &[
            "instagram_business_basic",
            "instagram_business_content_publish",
        ],
        Platform::Threads => &["threads_basic", "threads_content_publish"],
        Platform::Facebook => &[
            "pages_show_list",
            "pages_manage_posts",
            "pages_read_engagement",
        ],
        Platform::Tiktok => &["user.info.basic", "video.publish"],
        Platform::Youtube => &["https://www.googleapis.com/auth/youtube.upload"],
        Platform::Pinterest => &["boards:read", "pins:write"],
        Platform::GoogleBusiness => &["https://www.googleapis.com/auth/business.manage"],
        Platform::Vimeo => &["public", "upload"],
        Platform::Reddit => &["identity", "submit"],
        Platform::Bluesky => &["atproto"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;

    fn pending(expires_at: Timestamp) -> PendingConnect {
        PendingConnect {
            workspace_id: WorkspaceId::new(),
            principal: Principal {
                user: None,
                key: None,
                session_id_hash: None,
            },
            platform: Platform::X,
            verifier: SecretString::from("v"),
            expires_at,
        }
    }

    #[test]
    fn test_a_state_works_once_and_expires() {
        let config = GatewayConfig::new("http://127.0.0.1:9", SecretString::from("c"));
        let connects = PendingConnects::from_config(&config);
        let now = Timestamp::UNIX_EPOCH;
        let later = now + CONNECT_TTL;
        let state = connects.start(pending(later), now).expect("started");
        assert!(connects.take(&state, now).is_some());
        assert!(
            connects.take(&state, now).is_none(),
            "a state is single use"
        );
        let state = connects.start(pending(later), now).expect("started");
        assert!(
            connects.take(&state, later).is_none(),
            "expired at its deadline"
        );
        assert!(connects.oauth().is_err(), "no oauth base configured");
    }
}
