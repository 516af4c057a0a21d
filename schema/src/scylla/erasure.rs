//! Revocation retries, the erasure ledger and the purge deletes on ScyllaDB. A purge call
//! deletes up to `max_rows` posts (each with its deliveries partition and external id), then,
//! once no post is left, the accounts with their due-index rows (found through
//! `account_due_days`, so every read binds a whole partition key), tokens, retries, media,
//! memberships, the data key and last the workspace rows.

use async_trait::async_trait;
use futures::TryStreamExt;
use tenants::{Post, User, UserId, WorkspaceId};
use uuid::Uuid;

use super::{DEFAULT_PAGE_SIZE, Part, ScyllaStore, body_text, errors, part};
use crate::cursor::{self, PageBuilder};
use crate::error::StoreResult;
use crate::keys::KeyReader;
use crate::layout::{check_scope, decode, from_nanos, page_limit, scan_bucket};
use crate::scope::WorkspaceScope;
use crate::store::{Page, PageRequest, hour_bucket, shard_of};
use crate::store_erasure::{
    ErasureRecord, ErasureStore, PurgeProgress, RevokeRetry, RevokeTokenKind, key as ekey,
};

pub(crate) const PUT_REVOKE_RETRY: &str = "INSERT INTO revoke_retries \
     (workspace_id, account_id, token_kind, body) VALUES (?, ?, ?, ?)";
pub(crate) const LIST_REVOKE_RETRIES: &str = "SELECT account_id, token_kind, body \
     FROM revoke_retries WHERE workspace_id = ? AND (account_id, token_kind) > (?, ?)";
pub(crate) const DELETE_REVOKE_RETRIES: &str = "DELETE FROM revoke_retries WHERE workspace_id = ?";
pub(crate) const PUT_ERASURE: &str = "INSERT INTO erasures (subject_id, body) VALUES (?, ?)";
pub(crate) const GET_ERASURE: &str = "SELECT body FROM erasures WHERE subject_id = ?";
pub(crate) const PURGE_POSTS: &str = "SELECT body FROM posts WHERE workspace_id = ?";
pub(crate) const PURGE_ACCOUNTS: &str = "SELECT account_id FROM accounts WHERE workspace_id = ?";
pub(crate) const PURGE_DUE_DAYS: &str =
    "SELECT day FROM account_due_days WHERE workspace_id = ? AND account_id = ?";
pub(crate) const PURGE_ACCOUNT_DUE: &str = "SELECT due_at_ns, delivery_id FROM account_due \
     WHERE workspace_id = ? AND account_id = ? AND day = ?";
pub(crate) const DELETE_DUE_BY_BUCKET: &str = "DELETE FROM due_by_bucket \
     WHERE shard = ? AND hour = ? AND due_at_ns = ? AND delivery_id = ?";
pub(crate) const DELETE_ACCOUNT_DUE_DAY: &str =
    "DELETE FROM account_due WHERE workspace_id = ? AND account_id = ? AND day = ?";
pub(crate) const DELETE_ACCOUNT_PUBLISHES: &str =
    "DELETE FROM account_publishes WHERE workspace_id = ? AND account_id = ?";
pub(crate) const DELETE_DUE_DAYS: &str =
    "DELETE FROM account_due_days WHERE workspace_id = ? AND account_id = ?";
pub(crate) const DELETE_ACCOUNT: &str =
    "DELETE FROM accounts WHERE workspace_id = ? AND account_id = ?";
pub(crate) const DELETE_MEDIA_OF_WORKSPACE: &str = "DELETE FROM media WHERE workspace_id = ?";
pub(crate) const PURGE_MEMBERS: &str =
    "SELECT user_id FROM memberships_by_workspace WHERE workspace_id = ?";
pub(crate) const DELETE_MEMBERS: &str =
    "DELETE FROM memberships_by_workspace WHERE workspace_id = ?";
pub(crate) const DELETE_POSTS: &str = "DELETE FROM posts WHERE workspace_id = ?";
pub(crate) const DELETE_WORKSPACE: &str = "DELETE FROM workspaces WHERE workspace_id = ?";
pub(crate) const DELETE_WORKSPACE_ALL: &str =
    "DELETE FROM workspaces_all WHERE bucket = ? AND workspace_id = ?";
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE user_id = ?";
pub(crate) const DELETE_USER_ALL: &str = "DELETE FROM users_all WHERE bucket = ? AND user_id = ?";

impl ScyllaStore {
    /// Deletes up to `max` posts with their deliveries and external ids; returns how many rows
    /// went and whether posts remain.
    async fn purge_posts(&self, ws: WorkspaceId, max: usize) -> StoreResult<(u64, bool)> {
        let size = i32::try_from(max + 1).unwrap_or(DEFAULT_PAGE_SIZE);
        let mut rows = self
            .stream::<(String,)>("posts", &self.st.purge_posts, (ws.as_uuid(),), size)
            .await?;
        let mut posts: Vec<Post> = Vec::new();
        let mut more = false;
        while let Some((body,)) = rows.try_next().await.map_err(errors::next_row)? {
            if posts.len() == max {
                more = true;
                break;
            }
            posts.push(decode("posts", body.as_bytes())?);
        }
        let mut parts: Vec<Part<'_>> = Vec::new();
        for p in &posts {
            let (w, id) = (ws.as_uuid(), p.id.as_uuid());
            parts.push(part(&self.st.delete_deliveries_of_post, (w, id)));
            if let Some(ext) = &p.external_id {
                parts.push(part(&self.st.delete_external_id, (w, ext.clone())));
            }
            parts.push(part(&self.st.delete_post, (w, id)));
        }
        let n = parts.len() as u64;
        self.batch(parts).await?;
        Ok((n, more))
    }

    /// Deletes every account of the workspace with its due-index rows, tokens and retries.
    async fn purge_accounts(&self, ws: WorkspaceId) -> StoreResult<u64> {
        let w = ws.as_uuid();
        let mut accounts = Vec::new();
        let mut rows = self
            .stream::<(Uuid,)>("accounts", &self.st.purge_accounts, (w,), DEFAULT_PAGE_SIZE)
            .await?;
        while let Some((id,)) = rows.try_next().await.map_err(errors::next_row)? {
            accounts.push(id);
        }
        let mut n = 0u64;
        for account in accounts {
            let account_id = tenants::AccountId::from_bytes(*account.as_bytes());
            let shard = i32::from(shard_of(account_id));
            let mut days = Vec::new();
            let mut rows = self
                .stream::<(i64,)>(
                    "account_due_days",
                    &self.st.purge_due_days,
                    (w, account),
                    DEFAULT_PAGE_SIZE,
                )
                .await?;
            while let Some((day,)) = rows.try_next().await.map_err(errors::next_row)? {
                days.push(day);
            }
            for day in days {
                let mut parts: Vec<Part<'_>> = Vec::new();
                let mut due = self
                    .stream::<(i64, Uuid)>(
                        "account_due",
                        &self.st.purge_account_due,
                        (w, account, day),
                        DEFAULT_PAGE_SIZE,
                    )
                    .await?;
                while let Some((ns, delivery)) = due.try_next().await.map_err(errors::next_row)? {
                    let hour = hour_bucket(from_nanos("account_due", ns)?);
                    parts.push(part(
                        &self.st.delete_due_by_bucket,
                        (shard, hour, ns, delivery),
                    ));
                }
                parts.push(part(&self.st.delete_account_due_day, (w, account, day)));
                n += parts.len() as u64;
                self.batch(parts).await?;
            }
            self.batch(vec![
                part(&self.st.delete_due_days, (w, account)),
                part(&self.st.delete_account_publishes, (w, account)),
                part(&self.st.delete_tokens, (w, account)),
                part(&self.st.delete_account, (w, account)),
            ])
            .await?;
            n += 4;
        }
        Ok(n)
    }
}

#[async_trait]
impl ErasureStore for ScyllaStore {
    async fn put_revoke_retry(
        &self,
        scope: WorkspaceScope,
        retry: &RevokeRetry,
    ) -> StoreResult<()> {
        check_scope("revoke_retries", scope.workspace_id(), retry.workspace_id)?;
        let body = body_text("revoke_retries", retry)?;
        self.write(
            &self.st.put_revoke_retry,
            (
                retry.workspace_id.as_uuid(),
                retry.account_id.as_uuid(),
                retry.token_kind.as_str(),
                body,
            ),
        )
        .await
    }

    async fn list_revoke_retries(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<RevokeRetry>> {
        let ws = scope.workspace_id();
        let prefix = crate::layout::key::ws(ws);
        let (after_account, after_kind) = match &page.cursor {
            Some(c) => {
                let k = cursor::decode(c, &prefix)?;
                let account = KeyReader::new(&k[prefix.len()..]).uuid()?;
                let account_id = tenants::AccountId::from_bytes(*account.as_bytes());
                let kind = [RevokeTokenKind::Refresh, RevokeTokenKind::Access]
                    .into_iter()
                    .find(|kind| ekey::revoke_retry(ws, account_id, *kind) == k)
                    .ok_or(crate::error::StoreError::InvalidCursor)?;
                (account, kind.as_str().to_owned())
            }
            None => (Uuid::nil(), String::new()),
        };
        let limit = page_limit(page.limit);
        let mut builder = PageBuilder::new(limit);
        let size = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let mut rows = self
            .stream::<(Uuid, String, String)>(
                "revoke_retries",
                &self.st.list_revoke_retries,
                (ws.as_uuid(), after_account, after_kind),
                size,
            )
            .await?;
        while let Some((_, _, body)) = rows.try_next().await.map_err(errors::next_row)? {
            let retry: RevokeRetry = decode("revoke_retries", body.as_bytes())?;
            let k = ekey::revoke_retry(ws, retry.account_id, retry.token_kind);
            if !builder.offer(&k, Some(retry)) {
                break;
            }
        }
        Ok(builder.finish())
    }

    async fn put_erasure(&self, record: &ErasureRecord) -> StoreResult<()> {
        let body = body_text("erasures", record)?;
        self.write(&self.st.put_erasure, (record.subject_id, body))
            .await
    }

    async fn get_erasure(&self, subject_id: Uuid) -> StoreResult<Option<ErasureRecord>> {
        self.body("erasures", &self.st.get_erasure, (subject_id,))
            .await
    }

    async fn purge_workspace(
        &self,
        scope: WorkspaceScope,
        max_rows: usize,
    ) -> StoreResult<PurgeProgress> {
        let ws = scope.workspace_id();
        let w = ws.as_uuid();
        let (mut num_deleted, more) = self.purge_posts(ws, max_rows.max(1)).await?;
        if more {
            return Ok(PurgeProgress {
                num_deleted,
                done: false,
            });
        }
        num_deleted += self.purge_accounts(ws).await?;
        let mut parts: Vec<Part<'_>> = Vec::new();
        let mut members = self
            .stream::<(Uuid,)>(
                "memberships_by_workspace",
                &self.st.purge_members,
                (w,),
                DEFAULT_PAGE_SIZE,
            )
            .await?;
        while let Some((user,)) = members.try_next().await.map_err(errors::next_row)? {
            parts.push(part(&self.st.delete_member_by_user, (user, w)));
        }
        let bucket = scan_bucket(w) as i32;
        parts.extend([
            part(&self.st.delete_members, (w,)),
            part(&self.st.delete_posts, (w,)),
            part(&self.st.delete_revoke_retries, (w,)),
            part(&self.st.delete_media_of_workspace, (w,)),
            part(&self.st.delete_data_key, (w,)),
            part(&self.st.delete_data_key_all, (bucket, w)),
            part(&self.st.delete_workspace, (w,)),
            part(&self.st.delete_workspace_all, (bucket, w)),
        ]);
        num_deleted += parts.len() as u64;
        self.batch(parts).await?;
        Ok(PurgeProgress {
            num_deleted,
            done: true,
        })
    }

    async fn delete_user(&self, user_id: UserId) -> StoreResult<()> {
        let id = user_id.as_uuid();
        let user: Option<User> = self.body("users", &self.st.get_user, (id,)).await?;
        let mut parts: Vec<Part<'_>> = Vec::new();
        if let Some(u) = user {
            let provider = crate::layout::provider_name(u.provider);
            parts.push(part(
                &self.st.delete_user_by_subject,
                (provider, u.subject.clone()),
            ));
        }
        parts.push(part(&self.st.delete_user, (id,)));
        parts.push(part(&self.st.delete_user_all, (scan_bucket(id) as i32, id)));
        self.batch(parts).await
    }
}
