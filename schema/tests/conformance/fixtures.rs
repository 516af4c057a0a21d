//! Builders for the rows the conformance cases store.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use schema::{CasOutcome, WorkspaceScope};
use tenants::{
    AccountId, AccountStatus, ApiKeyId, ApiKeyMeta, ConnectedAccount, Delivery, DeliveryEvent,
    DeliveryId, DeliveryState, MediaId, MediaMeta, Membership, Platform, Post, PostId, PostStatus,
    Provider, Role, Sealed, Session, StoredTokens, User, UserId, Workspace, WorkspaceId,
    WrappedDataKey,
};

/// A fixed, whole-second "now" so stored and read instants compare equal on every backend.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).expect("valid instant")
}

pub fn at(base: Timestamp, minutes: i64) -> Timestamp {
    base + SignedDuration::from_mins(minutes)
}

pub fn user(subject: &str) -> User {
    User {
        id: UserId::new(),
        provider: Provider::Google,
        subject: subject.to_owned(),
        email: Some(format!("{subject}@example.com")),
        name: format!("User {subject}"),
        avatar_url: None,
        created_at: now(),
        birth_date_declared: None,
        marketing_consent: false,
        marketing_consent_at: None,
        instance_admin: false,
        deletion_requested_at: None,
    }
}

pub fn workspace(name: &str) -> Workspace {
    Workspace {
        id: WorkspaceId::new(),
        name: name.to_owned(),
        timezone: "Europe/Paris".to_owned(),
        created_at: now(),
        deletion_requested_at: None,
        processing_restricted: false,
    }
}

pub fn membership(ws: WorkspaceId, user: UserId, role: Role) -> Membership {
    Membership {
        workspace_id: ws,
        user_id: user,
        role,
        created_at: now(),
    }
}

pub fn api_key(owner: Option<UserId>, hash: &str) -> ApiKeyMeta {
    ApiKeyMeta {
        id: ApiKeyId::new(),
        name: format!("key {hash}"),
        owner,
        key_hash: hash.to_owned(),
        last4: "abcd".to_owned(),
        workspace_ids: None,
        scopes: Vec::new(),
        instance_admin: false,
        created_at: now(),
        last_used_at: None,
    }
}

pub fn account(ws: WorkspaceId, username: &str) -> ConnectedAccount {
    ConnectedAccount {
        id: AccountId::new(),
        workspace_id: ws,
        platform: Platform::Linkedin,
        platform_user_id: format!("li-{username}"),
        partner_account_id: Some(format!("acc_{username}")),
        username: username.to_owned(),
        display_name: username.to_uppercase(),
        avatar_url: None,
        status: AccountStatus::Active,
        status_reason: None,
        access_expires_at: Some(at(now(), 60)),
        refresh_expires_at: None,
        token_hint: Some("wxyz".to_owned()),
        connected_at: now(),
        updated_at: now(),
    }
}

pub fn sealed(byte: u8) -> Sealed {
    Sealed {
        key_version: 1,
        nonce: vec![byte; 12],
        ciphertext: vec![byte; 40],
    }
}

pub fn tokens(byte: u8) -> StoredTokens {
    StoredTokens {
        access_token: sealed(byte),
        refresh_token: Some(sealed(byte.wrapping_add(1))),
        access_expires_at: Some(at(now(), 60)),
        refresh_expires_at: None,
        scope: Some("w_member_social".to_owned()),
        updated_at: now(),
    }
}

pub fn data_key(ws: WorkspaceId) -> WrappedDataKey {
    WrappedDataKey {
        workspace_id: ws,
        key_version: 1,
        master_key_id: "master-1".to_owned(),
        nonce: vec![7; 12],
        ciphertext: vec![9; 48],
        created_at: now(),
    }
}

pub fn media(ws: WorkspaceId) -> MediaMeta {
    MediaMeta {
        id: MediaId::new(),
        workspace_id: ws,
        content_type: "image/png".to_owned(),
        size: 1234,
        sha256: "00".repeat(32),
        filename: Some("a.png".to_owned()),
        created_at: now(),
    }
}

pub fn session(user: UserId, id_hash: &str, expires_at: Timestamp) -> Session {
    Session {
        id_hash: id_hash.to_owned(),
        user_id: user,
        csrf_hash: "c".repeat(64),
        created_at: now(),
        expires_at,
        ip: Some("127.0.0.1".to_owned()),
        user_agent: None,
    }
}

pub fn post(
    ws: WorkspaceId,
    accounts: &[AccountId],
    scheduled_at: Option<Timestamp>,
    status: PostStatus,
) -> Post {
    Post {
        id: PostId::new(),
        workspace_id: ws,
        caption: "hello".to_owned(),
        variants: BTreeMap::new(),
        media_ids: Vec::new(),
        media_urls: Vec::new(),
        first_comment: None,
        account_ids: accounts.to_vec(),
        status,
        scheduled_at,
        timezone: "Europe/Paris".to_owned(),
        external_id: None,
        created_by: None,
        created_at: now(),
        updated_at: now(),
    }
}

pub fn delivery(post: &Post, account: AccountId, due_at: Timestamp) -> Delivery {
    let id = DeliveryId::new();
    Delivery {
        id,
        workspace_id: post.workspace_id,
        post_id: post.id,
        account_id: account,
        platform: Platform::Linkedin,
        state: DeliveryState::Scheduled,
        idempotency_key: id.to_string(),
        attempts: 0,
        due_at,
        partner_post_id: None,
        platform_post_id: None,
        published_at: None,
        last_error: None,
        version: 0,
        updated_at: now(),
    }
}

use super::DynStore;

/// Moves a scheduled delivery through `submitting` to `published` at `published_at`.
pub async fn publish(
    store: &DynStore,
    scope: WorkspaceScope,
    d: &Delivery,
    published_at: Timestamp,
) {
    let acct = scope.account(d.account_id);
    let submitting = d.apply(&DeliveryEvent::Submit, now()).expect("legal");
    let cas = store.transition(acct, d.version, &submitting).await;
    assert_eq!(cas.expect("cas"), CasOutcome::Applied);
    let event = DeliveryEvent::Publish {
        platform_post_id: format!("pp-{}", d.id),
        published_at,
    };
    let published = submitting.apply(&event, now()).expect("legal");
    let cas = store.transition(acct, submitting.version, &published).await;
    assert_eq!(cas.expect("cas"), CasOutcome::Applied);
}
