use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use uuid::Uuid;

use super::*;
use crate::ids::{AccountId, WorkspaceId};

fn now() -> Timestamp {
    "2026-05-01T12:00:00Z".parse().unwrap()
}

fn aad(workspace_id: WorkspaceId, account_id: AccountId) -> SealAad {
    SealAad {
        workspace_id,
        owner_id: account_id.as_uuid(),
        key_version: 1,
    }
}

fn key_bytes(byte: u8) -> SecretBox<[u8; KEY_LEN]> {
    SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| k.fill(byte))
}

#[test]
fn test_sealed_token_opens_with_same_key_and_row() {
    let key = DataKey::generate();
    let a = aad(WorkspaceId::new(), AccountId::new());
    let sealed = seal(&key, b"ya29.access-token", &a);
    assert_eq!(sealed.key_version, 1);
    assert_eq!(sealed.nonce.len(), NONCE_LEN);
    assert!(!sealed.ciphertext.windows(6).any(|w| w == b"access"));
    let opened = open_string(&key, &sealed, &a).unwrap();
    assert_eq!(opened.expose_secret(), "ya29.access-token");
}

#[test]
fn test_each_seal_uses_a_fresh_nonce() {
    let key = DataKey::generate();
    let a = aad(WorkspaceId::new(), AccountId::new());
    let first = seal(&key, b"same token", &a);
    let second = seal(&key, b"same token", &a);
    assert_ne!(first.nonce, second.nonce);
    assert_ne!(first.ciphertext, second.ciphertext);
}

#[test]
fn test_ciphertext_moved_to_another_account_is_tampered() {
    let key = DataKey::generate();
    let workspace = WorkspaceId::new();
    let sealed = seal(&key, b"token", &aad(workspace, AccountId::new()));
    let err = open(&key, &sealed, &aad(workspace, AccountId::new())).unwrap_err();
    assert_eq!(err, VaultError::Tampered);
    assert!(err.to_string().contains("tampered"));
}

#[test]
fn test_ciphertext_moved_to_another_workspace_is_tampered() {
    let key = DataKey::generate();
    let account = AccountId::new();
    let sealed = seal(&key, b"token", &aad(WorkspaceId::new(), account));
    let err = open(&key, &sealed, &aad(WorkspaceId::new(), account)).unwrap_err();
    assert_eq!(err, VaultError::Tampered);
}

#[test]
fn test_flipped_ciphertext_bit_is_tampered() {
    let key = DataKey::generate();
    let a = aad(WorkspaceId::new(), AccountId::new());
    let mut sealed = seal(&key, b"token", &a);
    sealed.ciphertext[0] ^= 1;
    assert_eq!(open(&key, &sealed, &a).unwrap_err(), VaultError::Tampered);
    let mut short_nonce = seal(&key, b"token", &a);
    short_nonce.nonce.pop();
    assert_eq!(
        open(&key, &short_nonce, &a).unwrap_err(),
        VaultError::Tampered
    );
}

#[test]
fn test_other_data_key_cannot_open() {
    let a = aad(WorkspaceId::new(), AccountId::new());
    let sealed = seal(&DataKey::generate(), b"token", &a);
    assert_eq!(
        open(&DataKey::generate(), &sealed, &a).unwrap_err(),
        VaultError::Tampered
    );
}

#[test]
fn test_wrong_key_version_is_named() {
    let key = DataKey::generate();
    let a = aad(WorkspaceId::new(), AccountId::new());
    let sealed = seal(&key, b"token", &a);
    let other = SealAad {
        key_version: 2,
        ..a
    };
    assert_eq!(
        open(&key, &sealed, &other).unwrap_err(),
        VaultError::WrongKeyVersion {
            sealed: 1,
            given: 2
        }
    );
}

#[test]
fn test_wrapped_data_key_round_trips() {
    let ring = MasterKeyring::generate("m1").unwrap();
    let workspace = WorkspaceId::new();
    let key = DataKey::generate();
    let wrapped = wrap_data_key(&ring, workspace, 3, &key, now());
    assert_eq!(wrapped.master_key_id, "m1");
    assert_eq!(wrapped.key_version, 3);
    assert_eq!(wrapped.workspace_id, workspace);
    let unwrapped = unwrap_data_key(&ring, &wrapped).unwrap();
    let a = aad(workspace, AccountId::new());
    let sealed = seal(&key, b"token", &a);
    assert_eq!(
        open(&unwrapped, &sealed, &a).unwrap().expose_secret(),
        b"token"
    );
}

#[test]
fn test_wrong_master_key_fails() {
    let ring = MasterKeyring::from_keys(vec![MasterKey::new("m1", key_bytes(1)).unwrap()]).unwrap();
    let impostor =
        MasterKeyring::from_keys(vec![MasterKey::new("m1", key_bytes(2)).unwrap()]).unwrap();
    let wrapped = wrap_data_key(&ring, WorkspaceId::new(), 1, &DataKey::generate(), now());
    assert_eq!(
        unwrap_data_key(&impostor, &wrapped).unwrap_err(),
        VaultError::Tampered
    );
    let other_id = MasterKeyring::generate("m2").unwrap();
    assert_eq!(
        unwrap_data_key(&other_id, &wrapped).unwrap_err(),
        VaultError::UnknownMasterKey { id: "m1".into() }
    );
}

#[test]
fn test_wrapped_key_moved_to_another_workspace_or_version_is_tampered() {
    let ring = MasterKeyring::generate("m1").unwrap();
    let wrapped = wrap_data_key(&ring, WorkspaceId::new(), 1, &DataKey::generate(), now());
    let mut moved = wrapped.clone();
    moved.workspace_id = WorkspaceId::new();
    assert_eq!(
        unwrap_data_key(&ring, &moved).unwrap_err(),
        VaultError::Tampered
    );
    let mut bumped = wrapped;
    bumped.key_version = 2;
    assert_eq!(
        unwrap_data_key(&ring, &bumped).unwrap_err(),
        VaultError::Tampered
    );
}

#[test]
fn test_rotation_rewraps_under_new_active_key() {
    let mut ring = MasterKeyring::generate("2025").unwrap();
    let workspace = WorkspaceId::new();
    let key = DataKey::generate();
    let a = aad(workspace, AccountId::new());
    let sealed = seal(&key, b"refresh-token", &a);
    let old = wrap_data_key(&ring, workspace, 1, &key, now());

    ring.push(MasterKey::generate("2026").unwrap()).unwrap();
    assert!(needs_rewrap(&ring, &old));
    let new = rewrap(&ring, &old).unwrap();
    assert_eq!(new.master_key_id, "2026");
    assert_eq!(new.created_at, old.created_at);
    assert!(!needs_rewrap(&ring, &new));

    // Only the new master key is needed from now on.
    let config = ring.to_config();
    let newest = config.expose_secret().split(',').nth(1).unwrap();
    let only_new = MasterKeyring::parse(newest).unwrap();
    let unwrapped = unwrap_data_key(&only_new, &new).unwrap();
    assert_eq!(
        open(&unwrapped, &sealed, &a).unwrap().expose_secret(),
        b"refresh-token"
    );
}

#[test]
fn test_keyring_parses_and_last_entry_is_active() {
    let k1 = STANDARD.encode([7u8; 32]);
    let k2 = STANDARD.encode([9u8; 32]);
    let ring = MasterKeyring::parse(&format!(" old:{k1} , new:{k2} ")).unwrap();
    assert_eq!(ring.ids(), vec!["old", "new"]);
    assert_eq!(ring.active().id, "new");
}

#[test]
fn test_bad_keyring_is_rejected_without_echoing_keys() {
    let short = STANDARD.encode([7u8; 16]);
    let good = STANDARD.encode([7u8; 32]);
    let cases = [
        String::new(),
        format!("k1:{short}"),
        "k1:not base64!".to_string(),
        good.clone(),
        format!("{good}:{good}"),
        format!("k1:{good},k1:{good}"),
    ];
    for case in cases {
        let err = MasterKeyring::parse(&case).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("invalid master keyring"), "{msg}");
        assert!(!msg.contains(&good[..12]), "{msg}");
        assert!(!msg.contains(&short[..12]), "{msg}");
    }
}

#[test]
fn test_debug_never_prints_key_bytes() {
    let ring = MasterKeyring::parse(&format!("m1:{}", STANDARD.encode([0xABu8; 32]))).unwrap();
    let data = DataKey::generate();
    let shown = format!("{ring:?} {:?} {data:?}", ring.active());
    assert!(shown.contains("m1"));
    assert!(shown.contains("REDACTED"));
    assert!(!shown.contains("171"), "{shown}");
    assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    assert!(
        !shown.contains(&STANDARD.encode([0xABu8; 32])[..8]),
        "{shown}"
    );
}

#[test]
fn test_aad_encoding_is_deterministic_and_distinct() {
    let a = SealAad {
        workspace_id: WorkspaceId::from_bytes([1; 16]),
        owner_id: Uuid::from_bytes([2; 16]),
        key_version: 7,
    };
    assert_eq!(a.encode(), a.encode());
    let swapped = SealAad {
        workspace_id: WorkspaceId::from_bytes([2; 16]),
        owner_id: Uuid::from_bytes([1; 16]),
        key_version: 7,
    };
    assert_ne!(a.encode(), swapped.encode());
    assert!(a.encode().ends_with(&[0, 0, 0, 7]));
}

#[test]
fn test_secret_hint_shows_at_most_last_four() {
    assert_eq!(secret_hint(&SecretString::from("abcdefghijkl")), "ijkl");
    assert_eq!(secret_hint(&SecretString::from("short")), "");
}
