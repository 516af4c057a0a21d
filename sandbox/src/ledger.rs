//! What the sandbox remembers about what it did: the ledger of accepted publishes (the ground
//! truth for "was anything published twice"), every secret it issued (so tests can search logs
//! and stores for leaks), and counters of notable events.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One accepted publish of one post to one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The `Idempotency-Key` the publish came with (empty when none was sent).
    pub idempotency_key: String,
    /// The partner account id published to.
    pub account: String,
    /// The id the platform gave the published post.
    pub platform_post_id: String,
    /// When the publish was accepted, by the sandbox clock.
    pub accepted_at: Timestamp,
}

/// Counters of what the sandbox saw. Reset only by restarting the sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxStats {
    /// Publishes accepted (one per post, whatever its number of accounts).
    pub publishes_accepted: u64,
    /// Publishes answered from the idempotency store.
    pub publishes_replayed: u64,
    /// Publishes refused because the key was reused with a different body (422).
    pub idempotency_conflicts: u64,
    /// Publishes refused because a platform access token had expired.
    pub rejected_token_expired: u64,
    /// Publishes refused because a platform access token was unknown, revoked or not the
    /// account's.
    pub rejected_token_invalid: u64,
    /// Partner requests answered by an injected 500.
    pub injected_errors: u64,
    /// Partner requests answered by a 429 (injected, or for arriving before `Retry-After`).
    pub rate_limited: u64,
    /// Requests that arrived before the `Retry-After` of an earlier 429 for the same scope.
    pub early_retries: u64,
    /// `early_retries` per scope (account id, or `org`).
    pub early_retries_by_account: BTreeMap<String, u64>,
    /// Publishes accepted whose connection was then dropped without a response.
    pub dropped_after_accept: u64,
    /// Platform authorizations approved (codes issued).
    pub authorizations: u64,
    /// Authorization codes exchanged for tokens.
    pub code_exchanges: u64,
    /// Successful refresh-token grants.
    pub refreshes: u64,
    /// Refresh-token grants refused with `invalid_grant`.
    pub refresh_rejected: u64,
    /// Successful revocations.
    pub revokes: u64,
    /// Revocations refused with 503 because `revoke_down` was set.
    pub revokes_unavailable: u64,
    /// Google and X sign-ins completed (codes exchanged).
    pub sign_ins: u64,
    /// TCP connections accepted. An HTTP/2 client keeps one however many requests it sends.
    #[serde(default)]
    pub connections_accepted: u64,
}

/// The ledger and the log of issued secrets.
#[derive(Default)]
pub(crate) struct Ledger {
    entries: Vec<LedgerEntry>,
    secrets: Vec<String>,
}

impl Ledger {
    pub fn record(&mut self, entry: LedgerEntry) {
        self.entries.push(entry);
    }

    pub fn record_secret(&mut self, secret: &str) {
        self.secrets.push(secret.to_owned());
    }

    pub fn entries(&self) -> Vec<LedgerEntry> {
        self.entries.clone()
    }

    pub fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }

    /// Entries whose (idempotency key, account) pair was already accepted before. Publishes sent
    /// without a key cannot be matched and never count.
    pub fn duplicates(&self) -> usize {
        let mut seen = HashSet::new();
        self.entries
            .iter()
            .filter(|e| !e.idempotency_key.is_empty())
            .filter(|e| !seen.insert((e.idempotency_key.as_str(), e.account.as_str())))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, account: &str) -> LedgerEntry {
        LedgerEntry {
            idempotency_key: key.to_owned(),
            account: account.to_owned(),
            platform_post_id: "1".to_owned(),
            accepted_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn test_same_key_for_same_account_twice_is_a_duplicate() {
        let mut ledger = Ledger::default();
        ledger.record(entry("k1", "a"));
        ledger.record(entry("k1", "b"));
        ledger.record(entry("", "a"));
        ledger.record(entry("", "a"));
        assert_eq!(ledger.duplicates(), 0);
        ledger.record(entry("k1", "a"));
        assert_eq!(ledger.duplicates(), 1);
    }
}
