//! Users, workspaces, memberships and API keys on the embedded store.

use async_trait::async_trait;
use jiff::Timestamp;
use tenants::{ApiKeyId, ApiKeyMeta, Membership, Provider, User, UserId, Workspace};

use super::RedbStore;
use super::access::Lookup;
use super::tables::*;
use super::writer::{Outcome, Tx};
use crate::error::StoreResult;
use crate::layout::{NO_OWNER, check_scope, decode, encode, key};
use crate::scope::WorkspaceScope;
use crate::store::{KeyStore, Page, PageRequest, UserStore, WorkspaceStore};

fn put_user_rows(tx: &mut Tx<'_, '_>, user: &User) -> StoreResult<()> {
    let id = user.id.as_uuid();
    if let Some(old) = tx.get_json::<User>(USERS, &key::users(id))?
        && (old.provider, &old.subject) != (user.provider, &user.subject)
    {
        tx.delete(
            USERS_BY_SUBJECT,
            key::users_by_subject(old.provider, &old.subject),
        );
    }
    let body = encode(USERS, user)?;
    tx.put(USERS, key::users(id), body.clone());
    tx.put(
        USERS_BY_SUBJECT,
        key::users_by_subject(user.provider, &user.subject),
        body.clone(),
    );
    tx.put(USERS_ALL, key::bucketed(id), body);
    Ok(())
}

#[async_trait]
impl UserStore for RedbStore {
    async fn put_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.write_done(Box::new(move |tx| {
            put_user_rows(tx, &user).map(|()| Outcome::Done)
        }))
        .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.read_point(move |r| r.get_json(USERS, &key::users(id.as_uuid())))
            .await
    }

    async fn find_user_by_subject(
        &self,
        provider: Provider,
        subject: &str,
    ) -> StoreResult<Option<User>> {
        let k = key::users_by_subject(provider, subject);
        self.read(move |r| r.get_json(USERS_BY_SUBJECT, &k)).await
    }

    async fn list_users(&self, page: PageRequest) -> StoreResult<Page<User>> {
        self.read(move |r| r.page(USERS_ALL, &[], &page, |_, v| decode(USERS_ALL, v).map(Some)))
            .await
    }
}

fn put_workspace_rows(tx: &mut Tx<'_, '_>, ws: &Workspace) -> StoreResult<()> {
    let body = encode(WORKSPACES, ws)?;
    tx.put(WORKSPACES, key::ws(ws.id), body.clone());
    tx.put(WORKSPACES_ALL, key::bucketed(ws.id.as_uuid()), body);
    Ok(())
}

fn put_membership_rows(tx: &mut Tx<'_, '_>, m: &Membership) -> StoreResult<()> {
    let (ws, user) = (m.workspace_id.as_uuid(), m.user_id.as_uuid());
    let body = encode(MEMBERSHIPS_BY_WORKSPACE, m)?;
    tx.put(MEMBERSHIPS_BY_WORKSPACE, key::pair(ws, user), body.clone());
    tx.put(MEMBERSHIPS_BY_USER, key::pair(user, ws), body);
    Ok(())
}

#[async_trait]
impl WorkspaceStore for RedbStore {
    async fn create_workspace(&self, workspace: &Workspace, owner: &Membership) -> StoreResult<()> {
        check_scope(MEMBERSHIPS_BY_WORKSPACE, workspace.id, owner.workspace_id)?;
        let (ws, owner) = (workspace.clone(), owner.clone());
        self.write_done(Box::new(move |tx| {
            put_workspace_rows(tx, &ws)?;
            put_membership_rows(tx, &owner)?;
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_workspace(&self, scope: WorkspaceScope) -> StoreResult<Option<Workspace>> {
        self.read_point(move |r| r.get_json(WORKSPACES, &key::ws(scope.workspace_id())))
            .await
    }

    async fn update_workspace(
        &self,
        scope: WorkspaceScope,
        workspace: &Workspace,
    ) -> StoreResult<()> {
        check_scope(WORKSPACES, scope.workspace_id(), workspace.id)?;
        let ws = workspace.clone();
        self.write_done(Box::new(move |tx| {
            put_workspace_rows(tx, &ws).map(|()| Outcome::Done)
        }))
        .await
    }

    async fn list_all_workspaces(&self, page: PageRequest) -> StoreResult<Page<Workspace>> {
        self.read(move |r| {
            r.page(WORKSPACES_ALL, &[], &page, |_, v| {
                decode(WORKSPACES_ALL, v).map(Some)
            })
        })
        .await
    }

    async fn put_membership(
        &self,
        scope: WorkspaceScope,
        membership: &Membership,
    ) -> StoreResult<()> {
        check_scope(
            MEMBERSHIPS_BY_WORKSPACE,
            scope.workspace_id(),
            membership.workspace_id,
        )?;
        let m = membership.clone();
        self.write_done(Box::new(move |tx| {
            put_membership_rows(tx, &m).map(|()| Outcome::Done)
        }))
        .await
    }

    async fn delete_membership(&self, scope: WorkspaceScope, user_id: UserId) -> StoreResult<()> {
        let (ws, user) = (scope.workspace_id().as_uuid(), user_id.as_uuid());
        self.write_done(Box::new(move |tx| {
            tx.delete(MEMBERSHIPS_BY_WORKSPACE, key::pair(ws, user));
            tx.delete(MEMBERSHIPS_BY_USER, key::pair(user, ws));
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_membership(
        &self,
        scope: WorkspaceScope,
        user_id: UserId,
    ) -> StoreResult<Option<Membership>> {
        let k = key::pair(scope.workspace_id().as_uuid(), user_id.as_uuid());
        self.read_point(move |r| r.get_json(MEMBERSHIPS_BY_WORKSPACE, &k))
            .await
    }

    async fn list_members(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<Membership>> {
        let prefix = key::ws(scope.workspace_id());
        self.read(move |r| {
            r.page(MEMBERSHIPS_BY_WORKSPACE, &prefix, &page, |_, v| {
                decode(MEMBERSHIPS_BY_WORKSPACE, v).map(Some)
            })
        })
        .await
    }

    async fn list_memberships_of_user(&self, user_id: UserId) -> StoreResult<Vec<Membership>> {
        self.read(move |r| r.all(MEMBERSHIPS_BY_USER, &key::users(user_id.as_uuid())))
            .await
    }
}

fn put_key_rows(tx: &mut Tx<'_, '_>, k: &ApiKeyMeta) -> StoreResult<()> {
    let id = k.id.as_uuid();
    let body = encode(API_KEYS, k)?;
    tx.put(API_KEYS, key::bucketed(id), body.clone());
    tx.put(API_KEYS_BY_HASH, key::text(&k.key_hash), body.clone());
    let owner = k.owner.map_or(NO_OWNER, |o| o.as_uuid());
    tx.put(API_KEYS_BY_OWNER, key::pair(owner, id), body);
    Ok(())
}

fn delete_key_rows(tx: &mut Tx<'_, '_>, k: &ApiKeyMeta) {
    let id = k.id.as_uuid();
    tx.delete(API_KEYS, key::bucketed(id));
    tx.delete(API_KEYS_BY_HASH, key::text(&k.key_hash));
    let owner = k.owner.map_or(NO_OWNER, |o| o.as_uuid());
    tx.delete(API_KEYS_BY_OWNER, key::pair(owner, id));
}

#[async_trait]
impl KeyStore for RedbStore {
    async fn put_api_key(&self, key: &ApiKeyMeta) -> StoreResult<()> {
        let k = key.clone();
        self.write_done(Box::new(move |tx| {
            if let Some(old) =
                tx.get_json::<ApiKeyMeta>(API_KEYS, &key::bucketed(k.id.as_uuid()))?
            {
                delete_key_rows(tx, &old);
            }
            put_key_rows(tx, &k)?;
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyMeta>> {
        let k = key::text(key_hash);
        self.read_point(move |r| r.get_json(API_KEYS_BY_HASH, &k))
            .await
    }

    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyMeta>> {
        self.read(move |r| r.get_json(API_KEYS, &key::bucketed(id.as_uuid())))
            .await
    }

    async fn list_api_keys(&self, owner: Option<UserId>) -> StoreResult<Vec<ApiKeyMeta>> {
        let prefix = key::users(owner.map_or(NO_OWNER, |o| o.as_uuid()));
        self.read(move |r| r.all(API_KEYS_BY_OWNER, &prefix)).await
    }

    async fn delete_api_key(&self, id: ApiKeyId) -> StoreResult<()> {
        self.write_done(Box::new(move |tx| {
            if let Some(old) = tx.get_json::<ApiKeyMeta>(API_KEYS, &key::bucketed(id.as_uuid()))? {
                delete_key_rows(tx, &old);
            }
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        self.write_done(Box::new(move |tx| {
            if let Some(mut k) =
                tx.get_json::<ApiKeyMeta>(API_KEYS, &key::bucketed(id.as_uuid()))?
            {
                k.last_used_at = Some(at);
                put_key_rows(tx, &k)?;
            }
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn count_api_keys(&self) -> StoreResult<u64> {
        self.read(|r| {
            let mut n = 0;
            r.scan_from(API_KEYS, &[], None, &mut |_, _| {
                n += 1;
                Ok(true)
            })?;
            Ok(n)
        })
        .await
    }
}
