//! Reloading the master keyring of a running vault (what `serve` does after
//! `socialcrm keys rotate`): data keys rewrapped under the new master key, and retired from the
//! old one, unwrap without a restart, and new data keys are wrapped under the new active key.

mod common;
mod partner_support;

use std::sync::Arc;

use engine::vault::{ClearTokens, TokenVaultError};
use partner_support::{start_time, store, vault};
use schema::{KeyringStore, PageRequest, WorkspaceScope};
use secrecy::{ExposeSecret, SecretString};
use tenants::crypto::{MasterKey, MasterKeyring, rewrap};
use tenants::{AccountId, Platform, WorkspaceId};

const ACCESS: &str = "access-token-reload-5c1e77a0";

fn grant() -> ClearTokens {
    ClearTokens {
        access_token: SecretString::from(ACCESS),
        refresh_token: None,
        access_expires_at: Some(start_time() + jiff::SignedDuration::from_hours(2)),
        refresh_expires_at: None,
        scope: None,
    }
}

/// What `socialcrm keys rotate` does to the store and the keyring: adds `next`, rewraps every
/// data key under it, then retires every other key. Returns the retired-old keyring.
async fn rotate(
    store: &Arc<schema::RedbStore>,
    old: &MasterKeyring,
    next_id: &str,
) -> MasterKeyring {
    let next = MasterKey::generate(next_id).expect("new master key");
    let entry = next.to_config_entry().expose_secret().to_owned();
    let mut both = MasterKeyring::parse(old.to_config().expose_secret()).expect("copy keyring");
    both.push(next).expect("add key");
    let keys = store
        .list_data_keys(PageRequest::first(100))
        .await
        .expect("list data keys");
    for wrapped in &keys.items {
        let again = rewrap(&both, wrapped).expect("rewrap");
        store
            .put_data_key(WorkspaceScope::authorized(wrapped.workspace_id), &again)
            .await
            .expect("store rewrapped key");
    }
    MasterKeyring::parse(&entry).expect("retired keyring")
}

#[tokio::test]
async fn test_a_running_vault_opens_rewrapped_keys_only_after_reloading_the_keyring() {
    let (_dir, store) = store().await;
    let old = Arc::new(MasterKeyring::generate("mk-old").expect("keyring"));
    let running = vault(&store, &old);
    // Another node stored these tokens, so the running vault has not cached the data key.
    let scope = WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new());
    vault(&store, &old)
        .store_grant(scope, &grant(), start_time())
        .await
        .expect("stored under the old master key");

    let rotated = rotate(&store, &old, "mk-new").await;
    let refused = running.load_tokens(scope).await;
    assert!(
        matches!(refused, Err(TokenVaultError::Crypto(_))),
        "the old keyring cannot unwrap the rewrapped key: {refused:?}"
    );

    running.replace_keyring(rotated);
    let tokens = running
        .load_tokens(scope)
        .await
        .expect("opens after reload")
        .expect("present");
    assert_eq!(tokens.access_token.expose_secret(), ACCESS);
    assert_eq!(running.active_master_key_id(), "mk-new");

    let fresh = WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new());
    running
        .store_grant(fresh, &grant(), start_time())
        .await
        .expect("new workspace");
    let wrapped = store
        .get_data_key(fresh.workspace())
        .await
        .expect("read")
        .expect("data key");
    assert_eq!(
        wrapped.master_key_id, "mk-new",
        "new data keys use the new key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_reloading_the_engine_keyring_wraps_new_workspaces_under_the_new_key() {
    let env = common::env(|_| {}).await.expect("env");
    let engine = env.start(common::Env::tuning()).await.expect("engine");
    let handle = engine.handle();
    let next = MasterKeyring::generate("mk-rotated").expect("keyring");
    let active = handle.reload_master_keys(next).expect("reload");
    assert_eq!(active, "mk-rotated");

    let scope = env.workspace().await.expect("workspace");
    let account = handle
        .connect_account(scope, env.grant(Platform::X).await.expect("grant"))
        .await
        .expect("connect");
    let wrapped = env
        .store
        .get_data_key(scope)
        .await
        .expect("read")
        .expect("data key");
    assert_eq!(wrapped.master_key_id, "mk-rotated");
    let tokens = env
        .store
        .get_tokens(scope.account(account.id))
        .await
        .expect("read tokens");
    assert!(
        tokens.is_some(),
        "the account's tokens are sealed and stored"
    );
    engine.shutdown().await;
    env.sandbox.shutdown().await;
}
