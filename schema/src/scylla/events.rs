//! The domain-event log on ScyllaDB: events by hour bucket and id (TTL), consumer cursors, and
//! the post update that logs its event in the same logged batch.

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::SignedDuration;
use tenants::Post;
use uuid::Uuid;

use super::{ScyllaStore, body_text, errors, part};
use crate::error::{StoreError, StoreResult};
use crate::layout::{check_scope, decode};
use crate::scope::WorkspaceScope;
use crate::store_events::{
    EVENT_LOG_RETENTION_SECS, EventCursor, EventLogStore, LoggedEvent, event_bucket,
};

pub(crate) const PUT_EVENT: &str =
    "INSERT INTO event_log (hour, event_id, body) VALUES (?, ?, ?) USING TTL ?";
pub(crate) const LIST_EVENTS: &str =
    "SELECT body FROM event_log WHERE hour = ? AND event_id > ? LIMIT ?";
pub(crate) const GET_EVENT_CURSOR: &str = "SELECT body FROM event_cursors WHERE consumer = ?";
pub(crate) const PUT_EVENT_CURSOR: &str =
    "INSERT INTO event_cursors (consumer, body) VALUES (?, ?)";

const TTL_SECS: i32 = EVENT_LOG_RETENTION_SECS as i32;

#[async_trait]
impl EventLogStore for ScyllaStore {
    async fn append_event(&self, event: &LoggedEvent) -> StoreResult<Uuid> {
        let id = Uuid::now_v7();
        let event = LoggedEvent {
            id,
            ..event.clone()
        };
        let values = (
            event_bucket(id),
            id,
            body_text("event_log", &event)?,
            TTL_SECS,
        );
        self.write(&self.st.put_event, values).await?;
        Ok(id)
    }

    /// The post row and the event row go in one logged batch.
    async fn update_post_logged(
        &self,
        scope: WorkspaceScope,
        post: &Post,
        event: &LoggedEvent,
    ) -> StoreResult<Uuid> {
        check_scope("posts", scope.workspace_id(), post.workspace_id)?;
        check_scope("event_log", scope.workspace_id(), event.workspace_id)?;
        let (ws, post_id) = (post.workspace_id.as_uuid(), post.id.as_uuid());
        let old: Option<Post> = self.body("posts", &self.st.get_post, (ws, post_id)).await?;
        if old.is_some_and(|o| o.external_id != post.external_id) {
            return Err(StoreError::Backend(
                "a logged post update cannot change external_id".into(),
            ));
        }
        let id = Uuid::now_v7();
        let event = LoggedEvent {
            id,
            ..event.clone()
        };
        let parts = vec![
            part(&self.st.put_post, (ws, post_id, body_text("posts", post)?)),
            part(
                &self.st.put_event,
                (
                    event_bucket(id),
                    id,
                    body_text("event_log", &event)?,
                    TTL_SECS,
                ),
            ),
        ];
        self.batch(parts).await?;
        Ok(id)
    }

    /// Ids are made by each writer before its write, which may take up to the driver's request
    /// timeout (and retries) to become visible.
    fn event_log_settle(&self) -> SignedDuration {
        SignedDuration::from_secs(30)
    }

    async fn events_in_bucket(
        &self,
        bucket: i64,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        let mut rows = self
            .stream::<(String,)>(
                "event_log",
                &self.st.list_events,
                (bucket, after.unwrap_or(Uuid::nil()), limit),
                limit,
            )
            .await?;
        let mut out = Vec::new();
        while let Some((body,)) = rows.try_next().await.map_err(errors::next_row)? {
            out.push(decode("event_log", body.as_bytes())?);
        }
        Ok(out)
    }

    async fn get_event_cursor(&self, consumer: &str) -> StoreResult<Option<EventCursor>> {
        self.body("event_cursors", &self.st.get_event_cursor, (consumer,))
            .await
    }

    async fn put_event_cursor(&self, consumer: &str, cursor: &EventCursor) -> StoreResult<()> {
        let values = (consumer, body_text("event_cursors", cursor)?);
        self.write(&self.st.put_event_cursor, values).await
    }
}
