//! The token vault over the embedded store: what goes in comes back out, nothing readable is at
//! rest, a ciphertext moved to another row is refused, and shredding a workspace's key makes its
//! tokens unrecoverable.

mod partner_support;

use engine::vault::{ClearTokens, TokenVaultError};
use partner_support::{keyring, start_time, store, vault};
use schema::{AccountStore, KeyringStore, WorkspaceScope};
use secrecy::{ExposeSecret, SecretString};
use tenants::crypto::{MasterKeyring, VaultError};
use tenants::{AccountId, WorkspaceId};

const ACCESS: &str = "access-token-7f3a9c2e5b81d4";
const REFRESH: &str = "refresh-token-0b6e2d9a41c7f5";

fn grant(access: &str, refresh: Option<&str>) -> ClearTokens {
    let now = start_time();
    ClearTokens {
        access_token: SecretString::from(access),
        refresh_token: refresh.map(SecretString::from),
        access_expires_at: Some(now + jiff::SignedDuration::from_hours(2)),
        refresh_expires_at: Some(now + jiff::SignedDuration::from_hours(24 * 180)),
        scope: Some("publish".into()),
    }
}

#[tokio::test]
async fn test_stored_grant_loads_back_identical() {
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let scope = WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new());
    vault
        .store_grant(scope, &grant(ACCESS, Some(REFRESH)), start_time())
        .await
        .expect("stored");
    let back = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("present");
    assert_eq!(back.access_token.expose_secret(), ACCESS);
    assert_eq!(
        back.refresh_token
            .as_ref()
            .expect("refresh")
            .expose_secret(),
        REFRESH
    );
    assert_eq!(
        back.access_expires_at,
        grant(ACCESS, None).access_expires_at
    );
    assert_eq!(back.scope.as_deref(), Some("publish"));
    assert_eq!(back.token_hint(), "81d4");
    let other = WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new());
    assert!(vault.load_tokens(other).await.expect("no error").is_none());
}

#[tokio::test]
async fn test_nothing_readable_is_stored() {
    let (_dir, store) = store().await;
    let keys = keyring();
    let vault = vault(&store, &keys);
    let scope = WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new());
    vault
        .store_grant(scope, &grant(ACCESS, Some(REFRESH)), start_time())
        .await
        .expect("stored");
    let stored = store
        .get_tokens(scope)
        .await
        .expect("reads")
        .expect("present");
    let raw = serde_json::to_vec(&stored).expect("serialises");
    for token in [ACCESS, REFRESH] {
        assert!(!contains(&raw, token.as_bytes()), "clear token at rest");
        assert!(!contains(&stored.access_token.ciphertext, token.as_bytes()));
    }
    assert_ne!(stored.access_token.ciphertext, ACCESS.as_bytes());
    let wrapped = store
        .get_data_key(scope.workspace())
        .await
        .expect("reads")
        .expect("key stored");
    assert_eq!(wrapped.master_key_id, "test-key-1");
    let file = std::fs::read(store.path()).expect("store file");
    assert!(contains(&file, b"publish"), "the tokens row is in the file");
    for token in [ACCESS, REFRESH] {
        assert!(
            !contains(&file, token.as_bytes()),
            "clear token in the store file"
        );
    }
}

#[tokio::test]
async fn test_tokens_copied_to_another_account_are_refused() {
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let workspace = WorkspaceScope::authorized(WorkspaceId::new());
    let victim = workspace.account(AccountId::new());
    let thief = workspace.account(AccountId::new());
    vault
        .store_grant(victim, &grant(ACCESS, Some(REFRESH)), start_time())
        .await
        .expect("stored");
    vault
        .store_grant(thief, &grant("thief-access-token-1234", None), start_time())
        .await
        .expect("stored");
    let sealed = store
        .get_tokens(victim)
        .await
        .expect("reads")
        .expect("present");
    store.put_tokens(thief, &sealed).await.expect("copied");
    let err = vault.load_tokens(thief).await.expect_err("refused");
    assert!(
        matches!(err, TokenVaultError::Crypto(VaultError::Tampered)),
        "got {err:?}"
    );
    assert!(!err.to_string().contains(ACCESS));

    let mut flipped = sealed.clone();
    flipped.access_token.ciphertext[0] ^= 1;
    store.put_tokens(victim, &flipped).await.expect("written");
    assert!(matches!(
        vault.load_tokens(victim).await,
        Err(TokenVaultError::Crypto(VaultError::Tampered))
    ));
}

#[tokio::test]
async fn test_grant_without_refresh_token_keeps_the_stored_one() {
    let (_dir, store) = store().await;
    let vault = vault(&store, &keyring());
    let scope = WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new());
    let first = grant(ACCESS, Some(REFRESH));
    vault
        .store_grant(scope, &first, start_time())
        .await
        .expect("stored");
    let mut renewed = grant("access-token-second-99", None);
    renewed.refresh_expires_at = None;
    vault
        .store_grant(scope, &renewed, start_time())
        .await
        .expect("stored");
    let empty = grant("access-token-third-777", Some("   "));
    vault
        .store_grant(scope, &empty, start_time())
        .await
        .expect("stored");
    let back = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("present");
    assert_eq!(back.access_token.expose_secret(), "access-token-third-777");
    assert_eq!(back.refresh_token.expect("kept").expose_secret(), REFRESH);
    assert_eq!(back.refresh_expires_at, first.refresh_expires_at);

    vault
        .store_grant(
            scope,
            &grant("access-4th-token-x", Some("rotated-refresh-1")),
            start_time(),
        )
        .await
        .expect("stored");
    let back = vault
        .load_tokens(scope)
        .await
        .expect("opens")
        .expect("present");
    assert_eq!(
        back.refresh_token.expect("rotated").expose_secret(),
        "rotated-refresh-1"
    );
}

#[tokio::test]
async fn test_shredded_workspace_tokens_are_unrecoverable_even_for_a_fresh_vault() {
    let (_dir, store) = store().await;
    let keys = keyring();
    let vault_a = vault(&store, &keys);
    let workspace = WorkspaceScope::authorized(WorkspaceId::new());
    let scope = workspace.account(AccountId::new());
    vault_a
        .store_grant(scope, &grant(ACCESS, Some(REFRESH)), start_time())
        .await
        .expect("stored");
    let vault_b = vault(&store, &keys);
    assert!(
        vault_b.load_tokens(scope).await.expect("opens").is_some(),
        "key is persisted, not only cached"
    );

    vault_a.shred_workspace(workspace).await.expect("shredded");
    assert!(matches!(
        vault_a.load_tokens(scope).await,
        Err(TokenVaultError::Shredded)
    ));
    let vault_c = vault(&store, &keys);
    assert!(matches!(
        vault_c.load_tokens(scope).await,
        Err(TokenVaultError::Shredded)
    ));

    vault_a.delete_tokens(scope).await.expect("deleted");
    assert!(
        vault_a
            .load_tokens(scope)
            .await
            .expect("no error")
            .is_none()
    );
}

#[tokio::test]
async fn test_another_master_keyring_cannot_open_the_tokens() {
    let (_dir, store) = store().await;
    let scope = WorkspaceScope::authorized(WorkspaceId::new()).account(AccountId::new());
    vault(&store, &keyring())
        .store_grant(scope, &grant(ACCESS, Some(REFRESH)), start_time())
        .await
        .expect("stored");
    let stranger = std::sync::Arc::new(MasterKeyring::generate("other-key").expect("keyring"));
    let err = vault(&store, &stranger)
        .load_tokens(scope)
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            TokenVaultError::Crypto(VaultError::UnknownMasterKey { .. })
        ),
        "got {err:?}"
    );
}

#[tokio::test]
async fn test_concurrent_first_use_seals_under_one_data_key() {
    let (_dir, store) = store().await;
    let keys = keyring();
    let vault = std::sync::Arc::new(vault(&store, &keys));
    let workspace = WorkspaceScope::authorized(WorkspaceId::new());
    let scopes: Vec<_> = (0..8)
        .map(|_| workspace.account(AccountId::new()))
        .collect();
    let mut tasks = Vec::new();
    for (i, scope) in scopes.iter().copied().enumerate() {
        let vault = vault.clone();
        tasks.push(tokio::spawn(async move {
            let g = grant(&format!("{ACCESS}-{i}"), Some(REFRESH));
            vault.store_grant(scope, &g, start_time()).await.map(|_| ())
        }));
    }
    for task in tasks {
        task.await.expect("joins").expect("stored");
    }
    // A vault with an empty cache reads the one stored key: every token must open under it.
    let fresh = partner_support::vault(&store, &keys);
    for (i, scope) in scopes.iter().enumerate() {
        let back = fresh
            .load_tokens(*scope)
            .await
            .expect("opens")
            .expect("present");
        assert_eq!(back.access_token.expose_secret(), format!("{ACCESS}-{i}"));
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
