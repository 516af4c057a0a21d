//! The domain-event log on the embedded store: events by hour bucket and id (with an emulated
//! expiry), consumer cursors, and the post update that logs its event in the same transaction.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tenants::Post;
use uuid::Uuid;

use super::RedbStore;
use super::access::Lookup;
use super::tables::POSTS;
use super::writer::{Outcome, Tx};
use crate::error::{StoreError, StoreResult};
use crate::layout::{check_scope, decode, encode};
use crate::row_codec::{encode_post, post_external_id};
use crate::scope::WorkspaceScope;
use crate::store_events::{
    EVENT_LOG_RETENTION_SECS, EventCursor, EventLogStore, LoggedEvent, event_bucket, key,
};

/// `event_log`: events by hour of their id, in id order.
pub(crate) const EVENT_LOG: &str = "event_log";
/// `event_cursors`: each consumer's position in the log.
pub(crate) const EVENT_CURSORS: &str = "event_cursors";
/// `analytics_jobs_by_workspace`: the keys of a workspace's pull jobs.
pub(crate) const ANALYTICS_JOBS_BY_WORKSPACE: &str = "analytics_jobs_by_workspace";

/// The tables of migration 6.
pub(crate) const TABLES: &[&str] = &[EVENT_LOG, EVENT_CURSORS, ANALYTICS_JOBS_BY_WORKSPACE];

/// An event with its emulated expiry.
#[derive(Debug, Serialize, Deserialize)]
struct TimedEvent {
    #[serde(flatten)]
    event: LoggedEvent,
    expires_at: Timestamp,
}

/// Buffers `event` under a fresh id made now, inside the writer's transaction (so ids grow in
/// commit order). Returns the id.
fn put_event(tx: &mut Tx<'_, '_>, event: &LoggedEvent) -> StoreResult<Uuid> {
    let id = Uuid::now_v7();
    let row = TimedEvent {
        event: LoggedEvent {
            id,
            ..event.clone()
        },
        expires_at: Timestamp::now() + SignedDuration::from_secs(EVENT_LOG_RETENTION_SECS),
    };
    tx.put(
        EVENT_LOG,
        key::log(event_bucket(id), id),
        encode(EVENT_LOG, &row)?,
    );
    Ok(id)
}

/// Buffers the replacement of `post`, refusing a change of its `external_id` (whose index this
/// path does not maintain).
fn put_post(tx: &mut Tx<'_, '_>, post: &Post) -> StoreResult<()> {
    let k = crate::layout::key::post(post.workspace_id, post.id.as_uuid());
    let old = tx.get_row(POSTS, &k, post_external_id)?;
    if old.is_some_and(|external_id| external_id != post.external_id) {
        return Err(StoreError::Backend(
            "a logged post update cannot change external_id".into(),
        ));
    }
    // The external-id row is unchanged, and nothing else indexes the post body.
    tx.put(POSTS, k, encode_post(post));
    Ok(())
}

#[async_trait]
impl EventLogStore for RedbStore {
    async fn append_event(&self, event: &LoggedEvent) -> StoreResult<Uuid> {
        let event = event.clone();
        let outcome = self
            .write(Box::new(move |tx| {
                let id = put_event(tx, &event)?;
                Ok(Outcome::Id(id))
            }))
            .await?;
        match outcome {
            Outcome::Id(id) => Ok(id),
            _ => Err(super::unexpected()),
        }
    }

    /// One write plan for all of them.
    async fn append_events(&self, events: &[LoggedEvent]) -> StoreResult<Vec<Uuid>> {
        let events = events.to_vec();
        let outcome = self
            .write(Box::new(move |tx| {
                let ids = events
                    .iter()
                    .map(|e| put_event(tx, e))
                    .collect::<StoreResult<Vec<Uuid>>>()?;
                Ok(Outcome::Ids(ids))
            }))
            .await?;
        match outcome {
            Outcome::Ids(ids) => Ok(ids),
            _ => Err(super::unexpected()),
        }
    }

    /// One write plan: the post row and the event row commit in the same transaction.
    async fn update_post_logged(
        &self,
        scope: WorkspaceScope,
        post: &Post,
        event: &LoggedEvent,
    ) -> StoreResult<Uuid> {
        check_scope(POSTS, scope.workspace_id(), post.workspace_id)?;
        check_scope(EVENT_LOG, scope.workspace_id(), event.workspace_id)?;
        let (post, event) = (post.clone(), event.clone());
        let outcome = self
            .write(Box::new(move |tx| {
                put_post(tx, &post)?;
                let id = put_event(tx, &event)?;
                Ok(Outcome::Id(id))
            }))
            .await?;
        match outcome {
            Outcome::Id(id) => Ok(id),
            _ => Err(super::unexpected()),
        }
    }

    /// One write plan for all of them.
    async fn update_posts_logged(
        &self,
        scope: WorkspaceScope,
        changes: &[(Post, LoggedEvent)],
    ) -> Vec<StoreResult<Uuid>> {
        let checked = changes.iter().try_for_each(|(post, event)| {
            check_scope(POSTS, scope.workspace_id(), post.workspace_id)?;
            check_scope(EVENT_LOG, scope.workspace_id(), event.workspace_id)
        });
        let outcome = match checked {
            Ok(()) => {
                let changes = changes.to_vec();
                self.write(Box::new(move |tx| {
                    let mut ids = Vec::with_capacity(changes.len());
                    for (post, event) in &changes {
                        put_post(tx, post)?;
                        ids.push(put_event(tx, event)?);
                    }
                    Ok(Outcome::Ids(ids))
                }))
                .await
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Outcome::Ids(ids)) if ids.len() == changes.len() => {
                ids.into_iter().map(Ok).collect()
            }
            Ok(_) => changes.iter().map(|_| Err(super::unexpected())).collect(),
            Err(e) => changes.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn event_log_settle(&self) -> SignedDuration {
        SignedDuration::ZERO
    }

    async fn events_in_bucket(
        &self,
        bucket: i64,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let prefix = key::log_part(bucket);
        let after = after.map(|id| key::log(bucket, id));
        let limit = limit.max(1);
        let now = Timestamp::now();
        self.read(move |r| {
            let mut out = Vec::new();
            r.scan_from(EVENT_LOG, &prefix, after.as_deref(), &mut |_, v| {
                let t: TimedEvent = decode(EVENT_LOG, v)?;
                if t.expires_at > now {
                    out.push(t.event);
                }
                Ok(out.len() < limit)
            })?;
            Ok(out)
        })
        .await
    }

    async fn get_event_cursor(&self, consumer: &str) -> StoreResult<Option<EventCursor>> {
        let k = key::cursor(consumer);
        self.read(move |r| r.get_json(EVENT_CURSORS, &k)).await
    }

    async fn put_event_cursor(&self, consumer: &str, cursor: &EventCursor) -> StoreResult<()> {
        let k = key::cursor(consumer);
        let v = encode(EVENT_CURSORS, cursor)?;
        self.write_done(Box::new(move |tx| {
            tx.put(EVENT_CURSORS, k, v);
            Ok(Outcome::Done)
        }))
        .await
    }
}
