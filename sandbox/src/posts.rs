//! The Outstand post store: accepted posts with their per-account publish state, and the
//! `Idempotency-Key` records that make a retried publish replay instead of publishing twice.
//! Per-account status is computed from the sandbox clock on every read, so advancing a manual
//! clock moves posts from `pending` to `published` or `failed`.

use std::collections::HashMap;

use axum::body::Bytes;
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Serialize;
use serde_json::Value;
use tenants::Platform;

use crate::ledger::LedgerEntry;

/// Keys are remembered this long, by the sandbox clock.
const KEY_TTL_SECS: i64 = 24 * 3600;

/// Content containing this marker is accepted, then fails on every account when its publish
/// time comes: a deterministic way to exercise partner-side failures.
pub(crate) const FAIL_MARKER: &str = "[sandbox:fail]";

/// Who a post is published to, resolved from the platform token table.
#[derive(Clone)]
pub(crate) struct Target {
    pub id: String,
    pub network: Platform,
    pub username: String,
    pub name: String,
}

struct PostAccount {
    target: Target,
    platform_post_id: String,
    publish_at: Timestamp,
    /// Set when the account's publish was stopped before `publish_at` (cancel, revoke).
    stopped: Option<String>,
    /// The platform's verdict at `publish_at`.
    rejection: Option<String>,
}

enum Status<'a> {
    Pending,
    Published(Timestamp),
    Failed(&'a str),
}

impl PostAccount {
    fn status(&self, now: Timestamp) -> Status<'_> {
        if let Some(error) = &self.stopped {
            return Status::Failed(error);
        }
        if now < self.publish_at {
            return Status::Pending;
        }
        match &self.rejection {
            Some(error) => Status::Failed(error),
            None => Status::Published(self.publish_at),
        }
    }
}

struct StoredPost {
    id: String,
    created_at: Timestamp,
    scheduled_at: Option<Timestamp>,
    containers: Value,
    accounts: Vec<PostAccount>,
}

impl StoredPost {
    /// The post as Outstand returns it, with each account's status at `now`.
    fn view(&self, now: Timestamp) -> PostView<'_> {
        let mut first_published: Option<Timestamp> = None;
        let social_accounts = self
            .accounts
            .iter()
            .map(|a| {
                let (status, error, published_at) = match a.status(now) {
                    Status::Pending => ("pending", None, None),
                    Status::Published(at) => ("published", None, Some(at)),
                    Status::Failed(error) => ("failed", Some(error), None),
                };
                if let Some(at) = published_at {
                    first_published = Some(first_published.map_or(at, |f| f.min(at)));
                }
                AccountView {
                    id: &a.target.id,
                    nickname: &a.target.name,
                    network: a.target.network.as_str(),
                    username: &a.target.username,
                    status,
                    error,
                    platform_post_id: published_at.map(|_| a.platform_post_id.as_str()),
                    published_at: published_at.map(|t| t.to_string()),
                }
            })
            .collect();
        PostView {
            id: &self.id,
            org_id: "org_sandbox",
            published_at: first_published.map(|t| t.to_string()),
            scheduled_at: self.scheduled_at.map(|t| t.to_string()),
            is_draft: false,
            created_at: self.created_at.to_string(),
            social_accounts,
            containers: &self.containers,
        }
    }

    fn render(&self, now: Timestamp) -> Value {
        serde_json::to_value(self.view(now)).unwrap_or(Value::Null)
    }
}

/// A post on the wire, serialized straight from the stored post.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostView<'a> {
    id: &'a str,
    org_id: &'static str,
    published_at: Option<String>,
    scheduled_at: Option<String>,
    is_draft: bool,
    created_at: String,
    social_accounts: Vec<AccountView<'a>>,
    containers: &'a Value,
}

/// One account's publication of a post on the wire.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountView<'a> {
    id: &'a str,
    nickname: &'a str,
    network: &'static str,
    username: &'a str,
    status: &'static str,
    error: Option<&'a str>,
    platform_post_id: Option<&'a str>,
    published_at: Option<String>,
}

/// The answer to an accepted publish.
#[derive(Serialize)]
struct AcceptedBody<'a> {
    success: bool,
    post: PostView<'a>,
}

/// A publish that passed validation and credential checks.
pub(crate) struct NewPost {
    pub idempotency_key: String,
    pub fingerprint: String,
    pub content_fails: bool,
    pub scheduled_at: Option<Timestamp>,
    pub containers: Value,
    pub targets: Vec<Target>,
    pub publish_delay_ms: u64,
}

/// What the idempotency store says about a key.
pub(crate) enum KeyLookup {
    /// Not seen (or expired): go ahead.
    Fresh,
    /// Seen with the same body: answer with this stored response (serialized JSON).
    Replay(Bytes),
    /// Seen with a different body.
    Conflict,
}

struct KeyRecord {
    fingerprint: String,
    /// The response body, serialized once and shared with every replay.
    response: Bytes,
    stored_at: Timestamp,
}

/// The posts filter of `GET /posts`.
pub(crate) struct ListFilter {
    pub social_account_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// Published copy of a post on one account, for metrics.
pub(crate) struct Published {
    pub target: Target,
    pub platform_post_id: String,
    pub published_at: Timestamp,
}

/// Why a post cannot be cancelled.
pub(crate) enum CancelError {
    NotFound,
    NotPending,
}

#[derive(Default)]
pub(crate) struct PostStore {
    posts: Vec<StoredPost>,
    by_id: HashMap<String, usize>,
    by_key: HashMap<String, Vec<usize>>,
    keys: HashMap<String, KeyRecord>,
    num_platform_posts: u64,
}

impl PostStore {
    pub fn lookup_key(&self, key: &str, fingerprint: &str, now: Timestamp) -> KeyLookup {
        match self.keys.get(key) {
            Some(record) if now.duration_since(record.stored_at).as_secs() < KEY_TTL_SECS => {
                if record.fingerprint == fingerprint {
                    KeyLookup::Replay(record.response.clone())
                } else {
                    KeyLookup::Conflict
                }
            }
            _ => KeyLookup::Fresh,
        }
    }

    fn new_post_id(&self) -> String {
        loop {
            let id: String = rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(6)
                .map(char::from)
                .collect();
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Stores an accepted post; returns its response body (serialized JSON) and the ledger
    /// entries to record.
    pub fn accept(&mut self, new: NewPost, now: Timestamp) -> (Bytes, Vec<LedgerEntry>) {
        let delay_ms = i64::try_from(new.publish_delay_ms).unwrap_or(i64::MAX);
        let mut publish_at = now
            .checked_add(SignedDuration::from_millis(delay_ms))
            .unwrap_or(Timestamp::MAX);
        if let Some(scheduled) = new.scheduled_at {
            publish_at = publish_at.max(scheduled);
        }
        let id = self.new_post_id();
        let mut entries = Vec::new();
        let mut accounts = Vec::new();
        for target in new.targets {
            self.num_platform_posts += 1;
            let platform_post_id =
                (1_790_000_000_000_000_000 + self.num_platform_posts).to_string();
            entries.push(LedgerEntry {
                idempotency_key: new.idempotency_key.clone(),
                account: target.id.clone(),
                platform_post_id: platform_post_id.clone(),
                accepted_at: now,
            });
            accounts.push(PostAccount {
                target,
                platform_post_id,
                publish_at,
                stopped: None,
                rejection: new
                    .content_fails
                    .then(|| "Rejected by the platform".to_owned()),
            });
        }
        let post = StoredPost {
            id: id.clone(),
            created_at: now,
            scheduled_at: new.scheduled_at,
            containers: new.containers,
            accounts,
        };
        let body = AcceptedBody {
            success: true,
            post: post.view(now),
        };
        // Serializing strings, numbers and a stored `Value` cannot fail.
        let response = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let idx = self.posts.len();
        self.posts.push(post);
        self.by_id.insert(id, idx);
        if !new.idempotency_key.is_empty() {
            self.by_key
                .entry(new.idempotency_key.clone())
                .or_default()
                .push(idx);
            let record = KeyRecord {
                fingerprint: new.fingerprint,
                response: response.clone(),
                stored_at: now,
            };
            self.keys.insert(new.idempotency_key, record);
        }
        (response, entries)
    }

    pub fn get(&self, id: &str, now: Timestamp) -> Option<Value> {
        let idx = *self.by_id.get(id)?;
        Some(self.posts[idx].render(now))
    }

    /// The account ids a post targets.
    pub fn accounts_of(&self, id: &str) -> Option<Vec<String>> {
        let idx = *self.by_id.get(id)?;
        Some(
            self.posts[idx]
                .accounts
                .iter()
                .map(|a| a.target.id.clone())
                .collect(),
        )
    }

    /// Matching posts, oldest first, with the total before paging.
    pub fn list(&self, filter: &ListFilter, now: Timestamp) -> (Vec<Value>, usize) {
        let candidates: Box<dyn Iterator<Item = &StoredPost>> = match &filter.idempotency_key {
            Some(key) => Box::new(
                self.by_key
                    .get(key)
                    .into_iter()
                    .flatten()
                    .map(|idx| &self.posts[*idx]),
            ),
            None => Box::new(self.posts.iter()),
        };
        let matching: Vec<&StoredPost> = candidates
            .filter(|p| {
                filter
                    .social_account_id
                    .as_ref()
                    .is_none_or(|acct| p.accounts.iter().any(|a| &a.target.id == acct))
            })
            .collect();
        let total = matching.len();
        let page = matching
            .into_iter()
            .skip(filter.offset)
            .take(filter.limit)
            .map(|p| p.render(now))
            .collect();
        (page, total)
    }

    /// Stops every still-pending account of a post.
    pub fn cancel(&mut self, id: &str, now: Timestamp) -> Result<Value, CancelError> {
        let idx = *self.by_id.get(id).ok_or(CancelError::NotFound)?;
        let post = &mut self.posts[idx];
        let mut num_cancelled = 0;
        for account in &mut post.accounts {
            if matches!(account.status(now), Status::Pending) {
                account.stopped = Some("Cancelled".to_owned());
                num_cancelled += 1;
            }
        }
        if num_cancelled == 0 {
            return Err(CancelError::NotPending);
        }
        Ok(post.render(now))
    }

    /// Fails the still-pending publishes to `account` (its token was revoked).
    pub fn fail_pending(&mut self, account: &str, now: Timestamp, error: &str) {
        for post in &mut self.posts {
            for a in &mut post.accounts {
                if a.target.id == account && matches!(a.status(now), Status::Pending) {
                    a.stopped = Some(error.to_owned());
                }
            }
        }
    }

    /// Copies published on `account` by `until`.
    pub fn published_on(&self, account: &str, until: Timestamp) -> Vec<Published> {
        self.posts
            .iter()
            .flat_map(|p| p.accounts.iter())
            .filter(|a| a.target.id == account)
            .filter_map(|a| published(a, until))
            .collect()
    }

    /// Copies of post `id` published by `now`, or `None` for an unknown post.
    pub fn published_copies(&self, id: &str, now: Timestamp) -> Option<Vec<Published>> {
        let idx = *self.by_id.get(id)?;
        let accounts = &self.posts[idx].accounts;
        Some(accounts.iter().filter_map(|a| published(a, now)).collect())
    }
}

fn published(account: &PostAccount, now: Timestamp) -> Option<Published> {
    match account.status(now) {
        Status::Published(at) => Some(Published {
            target: account.target.clone(),
            platform_post_id: account.platform_post_id.clone(),
            published_at: at,
        }),
        _ => None,
    }
}
