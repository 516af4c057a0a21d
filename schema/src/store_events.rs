//! The durable domain-event log: every event a webhook may report (`post.published`,
//! `account.connected`...) is appended here before anything is fanned out, in the same commit as
//! the state change it reports where the store allows it ([`EventLogStore::update_post_logged`]).
//! Consumers (the webhook fan-out) read the log by cursor, hour bucket by hour bucket, and keep
//! their cursor here, so a crash or a slow consumer loses no event.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tenants::{AccountId, Post, PostId, WorkspaceId};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::scope::WorkspaceScope;

/// How long logged events are kept (7 days): consumers are expected to be far closer than that.
pub const EVENT_LOG_RETENTION_SECS: i64 = 7 * 24 * 3600;

/// One domain event as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// The event id, a UUIDv7 the store makes when it logs the event; its time part picks the
    /// hour bucket ([`event_bucket`]) and it is the stable webhook id (`evt_<simple>`).
    pub id: Uuid,
    /// The workspace it happened in.
    pub workspace_id: WorkspaceId,
    /// The event type (`post.published`...).
    pub kind: String,
    /// The post concerned, if any.
    pub post_id: Option<PostId>,
    /// The account concerned, if any.
    pub account_id: Option<AccountId>,
    /// A reason a person can act on, for failures and holds.
    pub reason: Option<String>,
    /// When it happened (engine clock).
    pub at: Timestamp,
    /// The webhook `data` object, when it is not built from the fields above (`import.completed`).
    pub data: Option<serde_json::Value>,
}

/// The hour bucket of an event id: the hour (since the epoch) of its UUIDv7 time, or 0 for an id
/// without a time part.
pub fn event_bucket(id: Uuid) -> i64 {
    id.get_timestamp().map_or(0, |ts| {
        let (secs, _) = ts.to_unix();
        i64::try_from(secs).unwrap_or(i64::MAX).div_euclid(3600)
    })
}

/// Where a consumer stands in the log: every event of buckets before `bucket`, and of `bucket`
/// up to and including `after`, has been handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCursor {
    /// The hour bucket being read.
    pub bucket: i64,
    /// The last event handled in it, if any.
    pub after: Option<Uuid>,
}

/// The domain-event log and its consumers' cursors.
#[async_trait]
pub trait EventLogStore: Send + Sync {
    /// Appends one event. The store gives it its id, a UUIDv7 made at the write (`event.id`
    /// is ignored), and returns it. On the embedded store ids are made inside the single
    /// writer's transaction, so ids grow in commit order.
    ///
    /// # Errors
    /// Backend failures.
    async fn append_event(&self, event: &LoggedEvent) -> StoreResult<Uuid>;
    /// Appends several events, as [`EventLogStore::append_event`] each, in order; returns their
    /// ids. The embedded store writes them in one durable commit (all or none); elsewhere they
    /// are independent appends, sent concurrently.
    ///
    /// # Errors
    /// Backend failures (on ScyllaDB some of the events may then be stored).
    async fn append_events(&self, events: &[LoggedEvent]) -> StoreResult<Vec<Uuid>> {
        futures::future::try_join_all(events.iter().map(|e| self.append_event(e))).await
    }
    /// Replaces a post and appends the event reporting the change in one durable commit (one
    /// write transaction on the embedded store, one logged batch on ScyllaDB): either both are
    /// stored or neither. Only for changes that keep the post's `external_id`. The event gets
    /// its id as in [`EventLogStore::append_event`]; returns it.
    ///
    /// # Errors
    /// [`crate::StoreError::OutOfScope`] for a post of another workspace,
    /// [`crate::StoreError::Backend`] when the stored post has another `external_id`; backend
    /// failures.
    async fn update_post_logged(
        &self,
        scope: WorkspaceScope,
        post: &Post,
        event: &LoggedEvent,
    ) -> StoreResult<Uuid>;
    /// [`EventLogStore::update_post_logged`] for several posts of one workspace; one result per
    /// post, in order. The embedded store writes them in one durable commit (all or none);
    /// elsewhere each post and its event are an independent logged batch, sent concurrently.
    async fn update_posts_logged(
        &self,
        scope: WorkspaceScope,
        changes: &[(Post, LoggedEvent)],
    ) -> Vec<StoreResult<Uuid>> {
        futures::future::join_all(
            changes
                .iter()
                .map(|(post, event)| self.update_post_logged(scope, post, event)),
        )
        .await
    }
    /// How long after its id's time an event may still become visible to readers: zero when
    /// ids grow in commit order (the embedded store), the longest write delay otherwise. A
    /// reader's cursor must not pass an id younger than this.
    fn event_log_settle(&self) -> SignedDuration;
    /// Up to `limit` events of one hour bucket with an id after `after`, in id order.
    ///
    /// # Errors
    /// Backend failures.
    async fn events_in_bucket(
        &self,
        bucket: i64,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<LoggedEvent>>;
    /// A consumer's saved cursor.
    ///
    /// # Errors
    /// Backend failures.
    async fn get_event_cursor(&self, consumer: &str) -> StoreResult<Option<EventCursor>>;
    /// Saves a consumer's cursor.
    ///
    /// # Errors
    /// Backend failures.
    async fn put_event_cursor(&self, consumer: &str, cursor: &EventCursor) -> StoreResult<()>;
}

/// The ordered keys of the event tables (shared by both backends).
pub(crate) mod key {
    use uuid::Uuid;

    use crate::keys::KeyBuf;

    /// The partition prefix of `event_log((hour))`.
    pub(crate) fn log_part(hour: i64) -> Vec<u8> {
        KeyBuf::new().i64(hour).done()
    }
    /// `event_log((hour), event_id)`.
    pub(crate) fn log(hour: i64, id: Uuid) -> Vec<u8> {
        KeyBuf::new().i64(hour).uuid(id).done()
    }
    /// `event_cursors((consumer))`.
    pub(crate) fn cursor(consumer: &str) -> Vec<u8> {
        KeyBuf::new().str(consumer).done()
    }
}
