//! Connected accounts, sealed tokens, data keys, media and sessions on the embedded store.

use async_trait::async_trait;
use jiff::Timestamp;
use tenants::{
    ConnectedAccount, MediaId, MediaMeta, Session, StoredTokens, UserId, WrappedDataKey,
};

use super::RedbStore;
use super::access::Lookup;
use super::tables::*;
use super::writer::Outcome;
use crate::error::StoreResult;
use crate::layout::{check_scope, decode, encode, key};
use crate::scope::{AccountScope, WorkspaceScope};
use crate::store::{AccountStore, KeyringStore, MediaStore, Page, PageRequest};
use crate::store_requests::SessionStore;

fn account_key(scope: AccountScope) -> Vec<u8> {
    key::pair(scope.workspace_id().as_uuid(), scope.account_id().as_uuid())
}

#[async_trait]
impl AccountStore for RedbStore {
    async fn put_account(
        &self,
        scope: WorkspaceScope,
        account: &ConnectedAccount,
    ) -> StoreResult<()> {
        check_scope(ACCOUNTS, scope.workspace_id(), account.workspace_id)?;
        let k = key::pair(account.workspace_id.as_uuid(), account.id.as_uuid());
        let body = encode(ACCOUNTS, account)?;
        self.write_done(Box::new(move |tx| {
            tx.put(ACCOUNTS, k, body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_account(&self, scope: AccountScope) -> StoreResult<Option<ConnectedAccount>> {
        self.read_point(move |r| r.get_json(ACCOUNTS, &account_key(scope)))
            .await
    }

    async fn list_accounts(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<ConnectedAccount>> {
        let prefix = key::ws(scope.workspace_id());
        self.read_point(move |r| {
            r.page(ACCOUNTS, &prefix, &page, |_, v| {
                decode(ACCOUNTS, v).map(Some)
            })
        })
        .await
    }

    async fn put_tokens(&self, scope: AccountScope, tokens: &StoredTokens) -> StoreResult<()> {
        let body = encode(ACCOUNT_TOKENS, tokens)?;
        self.write_done(Box::new(move |tx| {
            tx.put(ACCOUNT_TOKENS, account_key(scope), body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_tokens(&self, scope: AccountScope) -> StoreResult<Option<StoredTokens>> {
        self.read_point(move |r| r.get_json(ACCOUNT_TOKENS, &account_key(scope)))
            .await
    }

    async fn delete_tokens(&self, scope: AccountScope) -> StoreResult<()> {
        self.write_done(Box::new(move |tx| {
            tx.delete(ACCOUNT_TOKENS, account_key(scope));
            Ok(Outcome::Done)
        }))
        .await
    }
}

#[async_trait]
impl KeyringStore for RedbStore {
    async fn put_data_key(&self, scope: WorkspaceScope, key: &WrappedDataKey) -> StoreResult<()> {
        check_scope(DATA_KEYS, scope.workspace_id(), key.workspace_id)?;
        let ws = key.workspace_id;
        let body = encode(DATA_KEYS, key)?;
        self.write_done(Box::new(move |tx| {
            tx.put(DATA_KEYS, key::ws(ws), body.clone());
            tx.put(DATA_KEYS_ALL, key::bucketed(ws.as_uuid()), body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn create_data_key(
        &self,
        scope: WorkspaceScope,
        key: &WrappedDataKey,
    ) -> StoreResult<WrappedDataKey> {
        check_scope(DATA_KEYS, scope.workspace_id(), key.workspace_id)?;
        let key = key.clone();
        let outcome = self
            .write(Box::new(move |tx| {
                let ws = key.workspace_id;
                if let Some(existing) = tx.get_json::<WrappedDataKey>(DATA_KEYS, &key::ws(ws))? {
                    return Ok(Outcome::DataKey(Box::new(existing)));
                }
                let body = encode(DATA_KEYS, &key)?;
                tx.put(DATA_KEYS, key::ws(ws), body.clone());
                tx.put(DATA_KEYS_ALL, key::bucketed(ws.as_uuid()), body);
                Ok(Outcome::DataKey(Box::new(key)))
            }))
            .await?;
        match outcome {
            Outcome::DataKey(k) => Ok(*k),
            _ => Err(super::unexpected()),
        }
    }

    async fn get_data_key(&self, scope: WorkspaceScope) -> StoreResult<Option<WrappedDataKey>> {
        self.read_point(move |r| r.get_json(DATA_KEYS, &key::ws(scope.workspace_id())))
            .await
    }

    async fn delete_data_key(&self, scope: WorkspaceScope) -> StoreResult<()> {
        let ws = scope.workspace_id();
        self.write_done(Box::new(move |tx| {
            tx.delete(DATA_KEYS, key::ws(ws));
            tx.delete(DATA_KEYS_ALL, key::bucketed(ws.as_uuid()));
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn list_data_keys(&self, page: PageRequest) -> StoreResult<Page<WrappedDataKey>> {
        self.read(move |r| {
            r.page(DATA_KEYS_ALL, &[], &page, |_, v| {
                decode(DATA_KEYS_ALL, v).map(Some)
            })
        })
        .await
    }
}

#[async_trait]
impl MediaStore for RedbStore {
    async fn put_media(&self, scope: WorkspaceScope, media: &MediaMeta) -> StoreResult<()> {
        check_scope(MEDIA, scope.workspace_id(), media.workspace_id)?;
        let k = key::pair(media.workspace_id.as_uuid(), media.id.as_uuid());
        let body = encode(MEDIA, media)?;
        self.write_done(Box::new(move |tx| {
            tx.put(MEDIA, k, body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_media(
        &self,
        scope: WorkspaceScope,
        id: MediaId,
    ) -> StoreResult<Option<MediaMeta>> {
        let k = key::pair(scope.workspace_id().as_uuid(), id.as_uuid());
        self.read(move |r| r.get_json(MEDIA, &k)).await
    }

    async fn delete_media(&self, scope: WorkspaceScope, id: MediaId) -> StoreResult<()> {
        let k = key::pair(scope.workspace_id().as_uuid(), id.as_uuid());
        self.write_done(Box::new(move |tx| {
            tx.delete(MEDIA, k);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn list_media(
        &self,
        scope: WorkspaceScope,
        page: PageRequest,
    ) -> StoreResult<Page<MediaMeta>> {
        let prefix = key::ws(scope.workspace_id());
        self.read(move |r| r.page(MEDIA, &prefix, &page, |_, v| decode(MEDIA, v).map(Some)))
            .await
    }
}

#[async_trait]
impl SessionStore for RedbStore {
    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        let body = encode(SESSIONS, session)?;
        let (id_hash, user) = (session.id_hash.clone(), session.user_id.as_uuid());
        self.write_done(Box::new(move |tx| {
            tx.put(
                SESSIONS_BY_USER,
                key::session_of_user(user, &id_hash),
                body.clone(),
            );
            tx.put(SESSIONS, key::text(&id_hash), body);
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn get_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<Session>> {
        let k = key::text(id_hash);
        let session: Option<Session> = self.read_point(move |r| r.get_json(SESSIONS, &k)).await?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        self.write_done(Box::new(move |tx| {
            if let Some(s) = tx.get_json::<Session>(SESSIONS, &key::text(&id_hash))? {
                tx.delete(
                    SESSIONS_BY_USER,
                    key::session_of_user(s.user_id.as_uuid(), &id_hash),
                );
            }
            tx.delete(SESSIONS, key::text(&id_hash));
            Ok(Outcome::Done)
        }))
        .await
    }

    async fn delete_sessions_of_user(&self, user_id: UserId) -> StoreResult<()> {
        let user = user_id.as_uuid();
        self.write_done(Box::new(move |tx| {
            let mut keys = Vec::new();
            tx.scan_from(SESSIONS_BY_USER, &key::users(user), None, &mut |k, v| {
                let s: Session = decode(SESSIONS_BY_USER, v)?;
                keys.push((k.to_vec(), s.id_hash));
                Ok(true)
            })?;
            for (k, id_hash) in keys {
                tx.delete(SESSIONS_BY_USER, k);
                tx.delete(SESSIONS, key::text(&id_hash));
            }
            Ok(Outcome::Done)
        }))
        .await
    }
}
