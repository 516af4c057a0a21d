//! The token refresh policy, as plain async logic the account actor calls (one call at a time
//! per account, since the actor serialises its messages).
//!
//! - [`next_refresh_at`] picks when to refresh: ahead of expiry, with jitter, so thousands of
//!   accounts connected together do not refresh together.
//! - [`refresh_account`] loads the sealed tokens, asks the platform, and persists the new tokens
//!   (sealed) before anyone may use them. A refresh without a new refresh token keeps the old one;
//!   a rotated one replaces it. `invalid_grant` means a person must reconnect (tokens are kept for
//!   the disconnect path to revoke); anything else is retried with backoff and never disconnects.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use schema::AccountScope;
use tenants::{Clock, Platform};
use tracing::Instrument as _;

use crate::partner::{OAuthError, PlatformOAuthClient};
use crate::vault::{ClearTokens, TokenVault, TokenVaultError, VaultStore};

/// The latest a refresh may happen: this long before the access token expires.
pub const MIN_LEAD: Duration = Duration::from_secs(60);
/// Share of the remaining lifetime after which a refresh is planned: drawn in this range.
pub const LIFETIME_SHARE: (f64, f64) = (0.75, 0.85);
/// First retry delay after a transient failure; doubles with each consecutive failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// Longest retry delay after transient failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// How often persisting refreshed tokens is tried before giving up. A rotated refresh token is
/// single use, so losing it costs a reconnect: worth a few quick retries.
const PERSIST_ATTEMPTS: u32 = 3;

/// What a refresh attempt came to, for the account actor to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens are persisted (sealed) and may be used.
    Refreshed {
        /// When the new access token expires (`None`: it does not).
        access_expires_at: Option<Timestamp>,
        /// When the refresh token expires, when the platform says.
        refresh_expires_at: Option<Timestamp>,
        /// When to refresh next (`None`: the token does not expire).
        next_refresh_at: Option<Timestamp>,
        /// The last 4 characters of the new access token, for recognition.
        token_hint: String,
    },
    /// The grant is dead (or unusable): mark the account `needs_reconnect` and notify. The
    /// tokens are left in place.
    NeedsReconnect {
        /// Why, in words a person can act on.
        reason: String,
    },
    /// A temporary failure: try again at `retry_at`. The account stays connected.
    Transient {
        /// When to try again.
        retry_at: Timestamp,
        /// What failed.
        reason: String,
    },
}

/// When to refresh an access token expiring at `access_expires_at`: after 75-85 % of its
/// remaining lifetime (jittered), never later than [`MIN_LEAD`] before expiry, never before `now`.
pub fn next_refresh_at<R: Rng + ?Sized>(
    access_expires_at: Timestamp,
    now: Timestamp,
    rng: &mut R,
) -> Timestamp {
    let lead = SignedDuration::try_from(MIN_LEAD).unwrap_or(SignedDuration::ZERO);
    let latest = access_expires_at
        .checked_sub(lead)
        .unwrap_or(access_expires_at);
    if latest <= now {
        return now;
    }
    let remaining = access_expires_at.duration_since(now).as_secs_f64();
    let share = rng.gen_range(LIFETIME_SHARE.0..LIFETIME_SHARE.1);
    let planned = SignedDuration::try_from_secs_f64(remaining * share)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(latest);
    planned.min(latest).max(now)
}

/// The delay before retry number `consecutive_failures + 1`: [`BACKOFF_BASE`] doubled per
/// failure, capped at [`BACKOFF_MAX`], jittered down by up to half, and never shorter than
/// what the platform asked for.
pub fn retry_delay<R: Rng + ?Sized>(
    consecutive_failures: u32,
    asked: Option<Duration>,
    rng: &mut R,
) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(2u32.saturating_pow(consecutive_failures.min(16)));
    let capped = exp.min(BACKOFF_MAX);
    let jittered = capped.mul_f64(rng.gen_range(0.5..=1.0));
    jittered.max(asked.unwrap_or(Duration::ZERO))
}

fn after(now: Timestamp, delay: Duration) -> Timestamp {
    SignedDuration::try_from(delay)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(now)
}

fn transient(
    now: Timestamp,
    failures: u32,
    asked: Option<Duration>,
    reason: String,
) -> RefreshOutcome {
    let delay = retry_delay(failures, asked, &mut rand::thread_rng());
    RefreshOutcome::Transient {
        retry_at: after(now, delay),
        reason,
    }
}

/// Refreshes one account's tokens and persists them before returning. `consecutive_failures`
/// counts the transient failures since the last success, for the backoff. All time comes from
/// `clock`; expiry instants are computed from when the platform answered.
pub async fn refresh_account<S: ?Sized + VaultStore>(
    vault: &TokenVault<S>,
    oauth: &PlatformOAuthClient,
    clock: &dyn Clock,
    scope: AccountScope,
    platform: Platform,
    consecutive_failures: u32,
) -> RefreshOutcome {
    let span = tracing::info_span!(
        "token_refresh",
        workspace_id = %scope.workspace_id(),
        account_id = %scope.account_id(),
        %platform,
    );
    refresh_in_span(vault, oauth, clock, scope, platform, consecutive_failures)
        .instrument(span)
        .await
}

async fn refresh_in_span<S: ?Sized + VaultStore>(
    vault: &TokenVault<S>,
    oauth: &PlatformOAuthClient,
    clock: &dyn Clock,
    scope: AccountScope,
    platform: Platform,
    consecutive_failures: u32,
) -> RefreshOutcome {
    let started = clock.now();
    let current = match vault.load_tokens(scope).await {
        Ok(Some(tokens)) => tokens,
        Ok(None) => {
            return RefreshOutcome::NeedsReconnect {
                reason: format!("no {platform} tokens are stored for this account; reconnect it"),
            };
        }
        Err(TokenVaultError::Store(e)) => {
            return transient(
                started,
                consecutive_failures,
                None,
                format!("reading tokens: {e}"),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "stored tokens cannot be opened");
            return RefreshOutcome::NeedsReconnect {
                reason: format!(
                    "the stored {platform} tokens cannot be used ({e}); reconnect the account"
                ),
            };
        }
    };
    let Some(refresh_token) = current.refresh_token.clone() else {
        if current.access_expires_at.is_none() {
            return refreshed(&current, started);
        }
        return RefreshOutcome::NeedsReconnect {
            reason: format!(
                "{platform} issued no refresh token; reconnect the account to renew access"
            ),
        };
    };
    let response = match oauth.refresh(platform, &refresh_token).await {
        Ok(response) => response,
        Err(OAuthError::InvalidGrant { code }) => {
            tracing::warn!(%code, "platform refused the grant; account needs reconnecting");
            return RefreshOutcome::NeedsReconnect {
                reason: format!(
                    "{platform} refused the stored authorization ({code}); reconnect the account"
                ),
            };
        }
        Err(e) => {
            tracing::warn!(error = %e, consecutive_failures, "token refresh failed; will retry");
            let asked = match &e {
                OAuthError::Transient { retry_after, .. } => *retry_after,
                _ => None,
            };
            return transient(clock.now(), consecutive_failures, asked, e.to_string());
        }
    };
    let received_at = clock.now();
    let mut fresh = ClearTokens::from_response(&response, received_at);
    if fresh.access_expires_at.is_none() {
        // A response without `expires_in`: fall back to the platform's documented lifetime.
        fresh.access_expires_at = platform
            .rules()
            .token
            .access_secs
            .map(|secs| after(received_at, Duration::from_secs(secs)));
    }
    let mut last_error = None;
    for attempt in 0..PERSIST_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        match vault.store_grant(scope, &fresh, received_at).await {
            Ok(stored) => {
                let persisted = ClearTokens {
                    refresh_expires_at: stored.refresh_expires_at,
                    ..fresh
                };
                tracing::info!(
                    rotated = response.refresh_token.is_some(),
                    "tokens refreshed and persisted"
                );
                return refreshed(&persisted, received_at);
            }
            Err(e) => last_error = Some(e),
        }
    }
    let reason = last_error.map(|e| e.to_string()).unwrap_or_default();
    tracing::error!(error = %reason, "refreshed tokens could not be persisted");
    transient(
        clock.now(),
        consecutive_failures,
        None,
        format!("persisting refreshed tokens: {reason}"),
    )
}

fn refreshed(tokens: &ClearTokens, now: Timestamp) -> RefreshOutcome {
    RefreshOutcome::Refreshed {
        access_expires_at: tokens.access_expires_at,
        refresh_expires_at: tokens.refresh_expires_at,
        next_refresh_at: tokens
            .access_expires_at
            .map(|exp| next_refresh_at(exp, now, &mut rand::thread_rng())),
        token_hint: tokens.token_hint(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid")
    }

    #[test]
    fn test_refresh_is_planned_between_75_and_85_percent_of_remaining_lifetime() {
        let mut rng = StdRng::seed_from_u64(7);
        let now = ts(1_000_000);
        let expires = ts(1_000_000 + 7200);
        for _ in 0..200 {
            let at = next_refresh_at(expires, now, &mut rng);
            let offset = at.duration_since(now).as_secs();
            assert!((5400..=6120).contains(&offset), "offset {offset}");
        }
    }

    #[test]
    fn test_refresh_is_never_later_than_a_minute_before_expiry_nor_in_the_past() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = ts(1_000_000);
        let at = next_refresh_at(ts(1_000_000 + 200), now, &mut rng);
        assert!(at <= ts(1_000_000 + 140));
        assert_eq!(next_refresh_at(ts(1_000_000 + 30), now, &mut rng), now);
        assert_eq!(next_refresh_at(ts(999_000), now, &mut rng), now);
    }

    #[test]
    fn test_retry_delay_grows_is_capped_and_honours_retry_after() {
        let mut rng = StdRng::seed_from_u64(3);
        let first = retry_delay(0, None, &mut rng);
        assert!(first >= BACKOFF_BASE / 2 && first <= BACKOFF_BASE);
        let late = retry_delay(40, None, &mut rng);
        assert!(late <= BACKOFF_MAX && late >= BACKOFF_MAX / 2);
        let asked = retry_delay(0, Some(Duration::from_secs(600)), &mut rng);
        assert_eq!(asked, Duration::from_secs(600));
    }
}
