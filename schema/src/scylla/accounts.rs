//! Connected accounts, sealed tokens, data keys, media and sessions on ScyllaDB.

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::Timestamp;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::Row;
use serde::de::DeserializeOwned;
use tenants::{
    ConnectedAccount, MediaId, MediaMeta, Session, StoredTokens, UserId, WorkspaceId,
    WrappedDataKey,
};
use uuid::Uuid;

use super::deliveries::lwt_applied;
use super::{ScyllaStore, body_text, errors, part};
use crate::cursor::{self, PageBuilder};
use crate::error::{StoreError, StoreResult};
use crate::keys::KeyReader;
use crate::layout::{TTL_GRACE, check_scope, decode, key, page_limit, scan_bucket, ttl_seconds};
use crate::scope::{AccountScope, WorkspaceScope};
use crate::store::{AccountStore, KeyringStore, MediaStore, Page, PageRequest};
use crate::store_requests::SessionStore;

impl ScyllaStore {
    /// One page of a workspace partition clustered by one id (`WHERE workspace_id = ? AND
    /// <id> > ?`), in id order.
    pub(crate) async fn id_page<T: DeserializeOwned>(
        &self,
        table: &'static str,
        st: &PreparedStatement,
        ws: WorkspaceId,
        req: &PageRequest,
    ) -> StoreResult<Page<T>> {
        let prefix = key::ws(ws);
        let after = match &req.cursor {
            Some(c) => {
                let k = cursor::decode(c, &prefix)?;
                let mut r = KeyReader::new(&k[prefix.len()..]);
                let id = r.uuid()?;
                r.end()?;
                id
            }
            None => Uuid::nil(),
        };
        let limit = page_limit(req.limit);
        let mut page = PageBuilder::new(limit);
        let size = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let mut rows = self
            .stream::<(Uuid, String)>(table, st, (ws.as_uuid(), after), size)
            .await?;
        while let Some((id, body)) = rows.try_next().await.map_err(errors::next_row)? {
            if !page.offer(
                &key::pair(ws.as_uuid(), id),
                Some(decode(table, body.as_bytes())?),
            ) {
                break;
            }
        }
        Ok(page.finish())
    }
}

pub(crate) const PUT_ACCOUNT: &str =
    "INSERT INTO accounts (workspace_id, account_id, body) VALUES (?, ?, ?)";
pub(crate) const GET_ACCOUNT: &str =
    "SELECT body FROM accounts WHERE workspace_id = ? AND account_id = ?";
pub(crate) const LIST_ACCOUNTS: &str =
    "SELECT account_id, body FROM accounts WHERE workspace_id = ? AND account_id > ?";
pub(crate) const PUT_TOKENS: &str =
    "INSERT INTO account_tokens (workspace_id, account_id, body) VALUES (?, ?, ?)";
pub(crate) const GET_TOKENS: &str =
    "SELECT body FROM account_tokens WHERE workspace_id = ? AND account_id = ?";
pub(crate) const DELETE_TOKENS: &str =
    "DELETE FROM account_tokens WHERE workspace_id = ? AND account_id = ?";

fn account_key(scope: AccountScope) -> (Uuid, Uuid) {
    (scope.workspace_id().as_uuid(), scope.account_id().as_uuid())
}

#[async_trait]
impl AccountStore for ScyllaStore {
    async fn put_account(
        &self,
        scope: WorkspaceScope,
        account: &ConnectedAccount,
    ) -> StoreResult<()> {
        check_scope("accounts", scope.workspace_id(), account.workspace_id)?;
        let body = body_text("accounts", account)?;
        self.write(
            &self.st.put_account,
            (account.workspace_id.as_uuid(), account.id.as_uuid(), body),
        )
        .await
    }

    async fn get_account(&self, scope: AccountScope) -> StoreResult<Option<ConnectedAccount>> {
        self.body("accounts", &self.st.get_account, account_key(scope))
            .await
    }

    async fn list_accounts(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<ConnectedAccount>> {
        self.id_page(
            "accounts",
            &self.st.list_accounts,
            scope.workspace_id(),
            &page,
        )
        .await
    }

    async fn put_tokens(&self, scope: AccountScope, tokens: &StoredTokens) -> StoreResult<()> {
        let (ws, account) = account_key(scope);
        self.write(
            &self.st.put_tokens,
            (ws, account, body_text("account_tokens", tokens)?),
        )
        .await
    }

    async fn get_tokens(&self, scope: AccountScope) -> StoreResult<Option<StoredTokens>> {
        self.body("account_tokens", &self.st.get_tokens, account_key(scope))
            .await
    }

    async fn delete_tokens(&self, scope: AccountScope) -> StoreResult<()> {
        self.write(&self.st.delete_tokens, account_key(scope)).await
    }
}

pub(crate) const PUT_DATA_KEY: &str = "INSERT INTO data_keys (workspace_id, body) VALUES (?, ?)";
pub(crate) const CREATE_DATA_KEY: &str =
    "INSERT INTO data_keys (workspace_id, body) VALUES (?, ?) IF NOT EXISTS";
pub(crate) const GET_DATA_KEY: &str = "SELECT body FROM data_keys WHERE workspace_id = ?";
pub(crate) const DELETE_DATA_KEY: &str = "DELETE FROM data_keys WHERE workspace_id = ?";
pub(crate) const PUT_DATA_KEY_ALL: &str =
    "INSERT INTO data_keys_all (bucket, workspace_id, body) VALUES (?, ?, ?)";
pub(crate) const DELETE_DATA_KEY_ALL: &str =
    "DELETE FROM data_keys_all WHERE bucket = ? AND workspace_id = ?";
pub(crate) const LIST_DATA_KEYS: &str =
    "SELECT workspace_id, body FROM data_keys_all WHERE bucket = ? AND workspace_id > ? LIMIT ?";

#[async_trait]
impl KeyringStore for ScyllaStore {
    async fn put_data_key(&self, scope: WorkspaceScope, key: &WrappedDataKey) -> StoreResult<()> {
        check_scope("data_keys", scope.workspace_id(), key.workspace_id)?;
        let (ws, body) = (key.workspace_id.as_uuid(), body_text("data_keys", key)?);
        self.batch(vec![
            part(&self.st.put_data_key, (ws, body.clone())),
            part(
                &self.st.put_data_key_all,
                (scan_bucket(ws) as i32, ws, body),
            ),
        ])
        .await
    }

    /// The third lightweight transaction, for the one row where two writers must agree: a
    /// workspace's first data key. The `data_keys_all` copy is (re)written with the winner.
    async fn create_data_key(
        &self,
        scope: WorkspaceScope,
        key: &WrappedDataKey,
    ) -> StoreResult<WrappedDataKey> {
        check_scope("data_keys", scope.workspace_id(), key.workspace_id)?;
        let ws = key.workspace_id.as_uuid();
        for _ in 0..3 {
            let body = body_text("data_keys", key)?;
            let inserted = self
                .one::<Row>("data_keys", &self.st.create_data_key, (ws, body))
                .await?;
            let stored = if lwt_applied(inserted.as_ref()) {
                Some(key.clone())
            } else {
                self.body::<WrappedDataKey>("data_keys", &self.st.get_data_key_serial, (ws,))
                    .await?
            };
            // `None`: the winner was deleted in between; try again.
            if let Some(stored) = stored {
                let body = body_text("data_keys", &stored)?;
                self.write(
                    &self.st.put_data_key_all,
                    (scan_bucket(ws) as i32, ws, body),
                )
                .await?;
                return Ok(stored);
            }
        }
        Err(StoreError::Timeout(
            "the workspace data key kept changing while it was created".into(),
        ))
    }

    async fn get_data_key(&self, scope: WorkspaceScope) -> StoreResult<Option<WrappedDataKey>> {
        self.body(
            "data_keys",
            &self.st.get_data_key,
            (scope.workspace_id().as_uuid(),),
        )
        .await
    }

    async fn delete_data_key(&self, scope: WorkspaceScope) -> StoreResult<()> {
        let ws = scope.workspace_id().as_uuid();
        self.batch(vec![
            part(&self.st.delete_data_key, (ws,)),
            part(&self.st.delete_data_key_all, (scan_bucket(ws) as i32, ws)),
        ])
        .await
    }

    async fn list_data_keys(&self, page: PageRequest) -> StoreResult<Page<WrappedDataKey>> {
        self.bucket_page("data_keys_all", &self.st.list_data_keys, &page)
            .await
    }
}

pub(crate) const PUT_MEDIA: &str =
    "INSERT INTO media (workspace_id, media_id, body) VALUES (?, ?, ?)";
pub(crate) const GET_MEDIA: &str = "SELECT body FROM media WHERE workspace_id = ? AND media_id = ?";
pub(crate) const DELETE_MEDIA: &str = "DELETE FROM media WHERE workspace_id = ? AND media_id = ?";
pub(crate) const LIST_MEDIA: &str =
    "SELECT media_id, body FROM media WHERE workspace_id = ? AND media_id > ?";

#[async_trait]
impl MediaStore for ScyllaStore {
    async fn put_media(&self, scope: WorkspaceScope, media: &MediaMeta) -> StoreResult<()> {
        check_scope("media", scope.workspace_id(), media.workspace_id)?;
        let body = body_text("media", media)?;
        self.write(
            &self.st.put_media,
            (media.workspace_id.as_uuid(), media.id.as_uuid(), body),
        )
        .await
    }

    async fn get_media(
        &self,
        scope: WorkspaceScope,
        id: MediaId,
    ) -> StoreResult<Option<MediaMeta>> {
        self.body(
            "media",
            &self.st.get_media,
            (scope.workspace_id().as_uuid(), id.as_uuid()),
        )
        .await
    }

    async fn delete_media(&self, scope: WorkspaceScope, id: MediaId) -> StoreResult<()> {
        self.write(
            &self.st.delete_media,
            (scope.workspace_id().as_uuid(), id.as_uuid()),
        )
        .await
    }

    async fn list_media(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<MediaMeta>> {
        self.id_page("media", &self.st.list_media, scope.workspace_id(), &page)
            .await
    }
}

pub(crate) const PUT_SESSION: &str =
    "INSERT INTO sessions (id_hash, body) VALUES (?, ?) USING TTL ?";
pub(crate) const GET_SESSION: &str = "SELECT body FROM sessions WHERE id_hash = ?";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id_hash = ?";
pub(crate) const PUT_SESSION_OF_USER: &str =
    "INSERT INTO sessions_by_user (user_id, id_hash) VALUES (?, ?) USING TTL ?";
pub(crate) const LIST_SESSIONS_OF_USER: &str =
    "SELECT id_hash FROM sessions_by_user WHERE user_id = ?";
pub(crate) const DELETE_SESSION_OF_USER: &str =
    "DELETE FROM sessions_by_user WHERE user_id = ? AND id_hash = ?";

#[async_trait]
impl SessionStore for ScyllaStore {
    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        let ttl = ttl_seconds(session.expires_at, session.created_at, TTL_GRACE);
        let (id_hash, user) = (session.id_hash.clone(), session.user_id.as_uuid());
        self.batch(vec![
            part(
                &self.st.put_session,
                (id_hash.clone(), body_text("sessions", session)?, ttl),
            ),
            part(&self.st.put_session_of_user, (user, id_hash, ttl)),
        ])
        .await
    }

    async fn get_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<Session>> {
        let session: Option<Session> = self
            .body("sessions", &self.st.get_session, (id_hash,))
            .await?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let mut parts = vec![part(&self.st.delete_session, (id_hash.to_owned(),))];
        let session: Option<Session> = self
            .body("sessions", &self.st.get_session, (id_hash,))
            .await?;
        if let Some(s) = session {
            parts.push(part(
                &self.st.delete_session_of_user,
                (s.user_id.as_uuid(), id_hash.to_owned()),
            ));
        }
        self.batch(parts).await
    }

    async fn delete_sessions_of_user(&self, user_id: UserId) -> StoreResult<()> {
        let user = user_id.as_uuid();
        let mut rows = self
            .stream::<(String,)>(
                "sessions_by_user",
                &self.st.list_sessions_of_user,
                (user,),
                super::DEFAULT_PAGE_SIZE,
            )
            .await?;
        let mut parts = Vec::new();
        while let Some((id_hash,)) = rows.try_next().await.map_err(errors::next_row)? {
            parts.push(part(&self.st.delete_session, (id_hash.clone(),)));
            parts.push(part(&self.st.delete_session_of_user, (user, id_hash)));
        }
        self.batch(parts).await
    }
}
