//! Users, workspaces, memberships and API keys on ScyllaDB.

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::Timestamp;
use scylla::statement::prepared::PreparedStatement;
use serde::de::DeserializeOwned;
use tenants::{ApiKeyId, ApiKeyMeta, Membership, Provider, User, UserId, Workspace};
use uuid::Uuid;

use super::{Part, ScyllaStore, body_text, errors, part};
use crate::cursor::{self, PageBuilder};
use crate::error::StoreResult;
use crate::keys::KeyReader;
use crate::layout::{
    NO_OWNER, NUM_SCAN_BUCKETS, check_scope, decode, key, page_limit, provider_name, scan_bucket,
};
use crate::scope::WorkspaceScope;
use crate::store::{KeyStore, Page, PageRequest, UserStore, WorkspaceStore};

pub(crate) const PUT_USER: &str = "INSERT INTO users (user_id, body) VALUES (?, ?)";
pub(crate) const GET_USER: &str = "SELECT body FROM users WHERE user_id = ?";
pub(crate) const PUT_USER_BY_SUBJECT: &str =
    "INSERT INTO users_by_subject (provider, subject, body) VALUES (?, ?, ?)";
pub(crate) const DELETE_USER_BY_SUBJECT: &str =
    "DELETE FROM users_by_subject WHERE provider = ? AND subject = ?";
pub(crate) const GET_USER_BY_SUBJECT: &str =
    "SELECT body FROM users_by_subject WHERE provider = ? AND subject = ?";
pub(crate) const PUT_USER_ALL: &str =
    "INSERT INTO users_all (bucket, user_id, body) VALUES (?, ?, ?)";
pub(crate) const LIST_USERS: &str =
    "SELECT user_id, body FROM users_all WHERE bucket = ? AND user_id > ? LIMIT ?";

impl ScyllaStore {
    /// One page of a bucketed "all rows" table: walks the buckets in order from the cursor's,
    /// each query bounded by the rows the page still needs (plus one to detect more).
    pub(crate) async fn bucket_page<T: DeserializeOwned>(
        &self,
        table: &'static str,
        st: &PreparedStatement,
        req: &PageRequest,
    ) -> StoreResult<Page<T>> {
        let (mut bucket, mut after) = match &req.cursor {
            Some(c) => {
                let k = cursor::decode(c, &[])?;
                let mut r = KeyReader::new(&k);
                let (b, id) = (r.u32()?, r.uuid()?);
                r.end()?;
                (b, id)
            }
            None => (0, Uuid::nil()),
        };
        let limit = page_limit(req.limit);
        let mut page = PageBuilder::new(limit);
        'buckets: while bucket < NUM_SCAN_BUCKETS {
            let want = i32::try_from(limit + 1).unwrap_or(i32::MAX);
            let mut rows = self
                .stream::<(Uuid, String)>(table, st, (bucket as i32, after, want), want)
                .await?;
            while let Some((id, body)) = rows.try_next().await.map_err(errors::next_row)? {
                if !page.offer(&key::bucketed(id), Some(decode(table, body.as_bytes())?)) {
                    break 'buckets;
                }
            }
            bucket += 1;
            after = Uuid::nil();
        }
        Ok(page.finish())
    }
}

#[async_trait]
impl UserStore for ScyllaStore {
    async fn put_user(&self, user: &User) -> StoreResult<()> {
        let id = user.id.as_uuid();
        let body = body_text("users", user)?;
        let mut parts: Vec<Part<'_>> = Vec::new();
        if let Some(old) = self.get_user(user.id).await?
            && (old.provider, &old.subject) != (user.provider, &user.subject)
        {
            parts.push(part(
                &self.st.delete_user_by_subject,
                (provider_name(old.provider), old.subject),
            ));
        }
        parts.push(part(&self.st.put_user, (id, body.clone())));
        parts.push(part(
            &self.st.put_user_by_subject,
            (
                provider_name(user.provider),
                user.subject.clone(),
                body.clone(),
            ),
        ));
        parts.push(part(
            &self.st.put_user_all,
            (scan_bucket(id) as i32, id, body),
        ));
        self.batch(parts).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.body("users", &self.st.get_user, (id.as_uuid(),)).await
    }

    async fn find_user_by_subject(
        &self,
        provider: Provider,
        subject: &str,
    ) -> StoreResult<Option<User>> {
        self.body(
            "users_by_subject",
            &self.st.get_user_by_subject,
            (provider_name(provider), subject),
        )
        .await
    }

    async fn list_users(&self, page: PageRequest) -> StoreResult<Page<User>> {
        self.bucket_page("users_all", &self.st.list_users, &page)
            .await
    }
}

pub(crate) const PUT_WORKSPACE: &str = "INSERT INTO workspaces (workspace_id, body) VALUES (?, ?)";
pub(crate) const GET_WORKSPACE: &str = "SELECT body FROM workspaces WHERE workspace_id = ?";
pub(crate) const PUT_WORKSPACE_ALL: &str =
    "INSERT INTO workspaces_all (bucket, workspace_id, body) VALUES (?, ?, ?)";
pub(crate) const LIST_WORKSPACES: &str =
    "SELECT workspace_id, body FROM workspaces_all WHERE bucket = ? AND workspace_id > ? LIMIT ?";
pub(crate) const PUT_MEMBER: &str =
    "INSERT INTO memberships_by_workspace (workspace_id, user_id, body) VALUES (?, ?, ?)";
pub(crate) const PUT_MEMBER_BY_USER: &str =
    "INSERT INTO memberships_by_user (user_id, workspace_id, body) VALUES (?, ?, ?)";
pub(crate) const DELETE_MEMBER: &str =
    "DELETE FROM memberships_by_workspace WHERE workspace_id = ? AND user_id = ?";
pub(crate) const DELETE_MEMBER_BY_USER: &str =
    "DELETE FROM memberships_by_user WHERE user_id = ? AND workspace_id = ?";
pub(crate) const GET_MEMBER: &str =
    "SELECT body FROM memberships_by_workspace WHERE workspace_id = ? AND user_id = ?";
pub(crate) const LIST_MEMBERS: &str =
    "SELECT user_id, body FROM memberships_by_workspace WHERE workspace_id = ? AND user_id > ?";
pub(crate) const LIST_MEMBERSHIPS_OF_USER: &str =
    "SELECT body FROM memberships_by_user WHERE user_id = ?";

impl ScyllaStore {
    fn workspace_parts(&self, ws: &Workspace) -> StoreResult<Vec<Part<'_>>> {
        let (id, body) = (ws.id.as_uuid(), body_text("workspaces", ws)?);
        Ok(vec![
            part(&self.st.put_workspace, (id, body.clone())),
            part(
                &self.st.put_workspace_all,
                (scan_bucket(id) as i32, id, body),
            ),
        ])
    }

    fn membership_parts(&self, m: &Membership) -> StoreResult<Vec<Part<'_>>> {
        let (ws, user) = (m.workspace_id.as_uuid(), m.user_id.as_uuid());
        let body = body_text("memberships_by_workspace", m)?;
        Ok(vec![
            part(&self.st.put_member, (ws, user, body.clone())),
            part(&self.st.put_member_by_user, (user, ws, body)),
        ])
    }
}

#[async_trait]
impl WorkspaceStore for ScyllaStore {
    async fn create_workspace(&self, workspace: &Workspace, owner: &Membership) -> StoreResult<()> {
        check_scope("memberships_by_workspace", workspace.id, owner.workspace_id)?;
        let mut parts = self.workspace_parts(workspace)?;
        parts.extend(self.membership_parts(owner)?);
        self.batch(parts).await
    }

    async fn get_workspace(&self, scope: WorkspaceScope) -> StoreResult<Option<Workspace>> {
        self.body(
            "workspaces",
            &self.st.get_workspace,
            (scope.workspace_id().as_uuid(),),
        )
        .await
    }

    async fn update_workspace(
        &self,
        scope: WorkspaceScope,
        workspace: &Workspace,
    ) -> StoreResult<()> {
        check_scope("workspaces", scope.workspace_id(), workspace.id)?;
        self.batch(self.workspace_parts(workspace)?).await
    }

    async fn list_all_workspaces(&self, page: PageRequest) -> StoreResult<Page<Workspace>> {
        self.bucket_page("workspaces_all", &self.st.list_workspaces, &page)
            .await
    }

    async fn put_membership(
        &self,
        scope: WorkspaceScope,
        membership: &Membership,
    ) -> StoreResult<()> {
        check_scope(
            "memberships_by_workspace",
            scope.workspace_id(),
            membership.workspace_id,
        )?;
        self.batch(self.membership_parts(membership)?).await
    }

    async fn delete_membership(&self, scope: WorkspaceScope, user_id: UserId) -> StoreResult<()> {
        let (ws, user) = (scope.workspace_id().as_uuid(), user_id.as_uuid());
        self.batch(vec![
            part(&self.st.delete_member, (ws, user)),
            part(&self.st.delete_member_by_user, (user, ws)),
        ])
        .await
    }

    async fn get_membership(
        &self,
        scope: WorkspaceScope,
        user_id: UserId,
    ) -> StoreResult<Option<Membership>> {
        let values = (scope.workspace_id().as_uuid(), user_id.as_uuid());
        self.body("memberships_by_workspace", &self.st.get_member, values)
            .await
    }

    async fn list_members(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<Membership>> {
        let ws = scope.workspace_id();
        self.id_page("memberships_by_workspace", &self.st.list_members, ws, &page)
            .await
    }

    async fn list_memberships_of_user(&self, user_id: UserId) -> StoreResult<Vec<Membership>> {
        self.bodies(
            "memberships_by_user",
            &self.st.list_memberships_of_user,
            (user_id.as_uuid(),),
        )
        .await
    }
}

pub(crate) const PUT_KEY: &str = "INSERT INTO api_keys (bucket, key_id, body) VALUES (?, ?, ?)";
pub(crate) const GET_KEY: &str = "SELECT body FROM api_keys WHERE bucket = ? AND key_id = ?";
pub(crate) const DELETE_KEY: &str = "DELETE FROM api_keys WHERE bucket = ? AND key_id = ?";
pub(crate) const COUNT_KEYS: &str = "SELECT COUNT(*) FROM api_keys WHERE bucket = ?";
pub(crate) const PUT_KEY_BY_HASH: &str =
    "INSERT INTO api_keys_by_hash (key_hash, body) VALUES (?, ?)";
pub(crate) const GET_KEY_BY_HASH: &str = "SELECT body FROM api_keys_by_hash WHERE key_hash = ?";
pub(crate) const DELETE_KEY_BY_HASH: &str = "DELETE FROM api_keys_by_hash WHERE key_hash = ?";
pub(crate) const PUT_KEY_BY_OWNER: &str =
    "INSERT INTO api_keys_by_owner (owner_id, key_id, body) VALUES (?, ?, ?)";
pub(crate) const LIST_KEYS_BY_OWNER: &str = "SELECT body FROM api_keys_by_owner WHERE owner_id = ?";
pub(crate) const DELETE_KEY_BY_OWNER: &str =
    "DELETE FROM api_keys_by_owner WHERE owner_id = ? AND key_id = ?";

impl ScyllaStore {
    fn key_parts(&self, k: &ApiKeyMeta, delete: bool) -> StoreResult<Vec<Part<'_>>> {
        let (id, owner) = (k.id.as_uuid(), k.owner.map_or(NO_OWNER, |o| o.as_uuid()));
        let bucket = scan_bucket(id) as i32;
        if delete {
            return Ok(vec![
                part(&self.st.delete_key, (bucket, id)),
                part(&self.st.delete_key_by_hash, (k.key_hash.clone(),)),
                part(&self.st.delete_key_by_owner, (owner, id)),
            ]);
        }
        let body = body_text("api_keys", k)?;
        Ok(vec![
            part(&self.st.put_key, (bucket, id, body.clone())),
            part(&self.st.put_key_by_hash, (k.key_hash.clone(), body.clone())),
            part(&self.st.put_key_by_owner, (owner, id, body)),
        ])
    }
}

#[async_trait]
impl KeyStore for ScyllaStore {
    async fn put_api_key(&self, key: &ApiKeyMeta) -> StoreResult<()> {
        let mut parts = match self.get_api_key(key.id).await? {
            Some(old) => self.key_parts(&old, true)?,
            None => Vec::new(),
        };
        parts.extend(self.key_parts(key, false)?);
        self.batch(parts).await
    }

    async fn get_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyMeta>> {
        self.body("api_keys_by_hash", &self.st.get_key_by_hash, (key_hash,))
            .await
    }

    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyMeta>> {
        let id = id.as_uuid();
        self.body("api_keys", &self.st.get_key, (scan_bucket(id) as i32, id))
            .await
    }

    async fn list_api_keys(&self, owner: Option<UserId>) -> StoreResult<Vec<ApiKeyMeta>> {
        let owner = owner.map_or(NO_OWNER, |o| o.as_uuid());
        self.bodies("api_keys_by_owner", &self.st.list_keys_by_owner, (owner,))
            .await
    }

    async fn delete_api_key(&self, id: ApiKeyId) -> StoreResult<()> {
        match self.get_api_key(id).await? {
            Some(old) => self.batch(self.key_parts(&old, true)?).await,
            None => Ok(()),
        }
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        match self.get_api_key(id).await? {
            Some(mut k) => {
                k.last_used_at = Some(at);
                self.batch(self.key_parts(&k, false)?).await
            }
            None => Ok(()),
        }
    }

    async fn count_api_keys(&self) -> StoreResult<u64> {
        let mut total = 0u64;
        for bucket in 0..NUM_SCAN_BUCKETS {
            let n = self
                .one::<(i64,)>("api_keys", &self.st.count_keys, (bucket as i32,))
                .await?;
            total += n.map_or(0, |(n,)| u64::try_from(n).unwrap_or(0));
        }
        Ok(total)
    }
}
