//! Erasure: a workspace is gone from the engine at once (tokens deleted and shredded, pending
//! deliveries canceled); after 30 days of clock and a purge pass nothing of it remains in any
//! table or in the media directory, the ledger proves when, and another workspace is untouched.
//! A user is erased under the sole-owner rule.

mod common;

use common::{Env, env, post_at, start_time};
use engine::{EngineError, EngineServices};
use jiff::{SignedDuration, Timestamp};
use schema::{PageRequest, PostFilter, Store, WorkspaceScope, hour_bucket, shard_of};
use tenants::{AccountId, MediaId, MediaMeta, Membership, Platform, Provider, Role, User, UserId};

struct Seeded {
    scope: WorkspaceScope,
    account: AccountId,
    media_file: std::path::PathBuf,
}

async fn seed(
    env: &common::Env,
    h: &engine::EngineHandle,
    media_dir: &std::path::Path,
) -> anyhow::Result<Seeded> {
    let scope = env.workspace().await?;
    let account = h
        .connect_account(scope, env.grant(Platform::Linkedin).await?)
        .await?
        .id;
    for i in 0..3 {
        let at = start_time() + SignedDuration::from_hours(5 + i);
        h.create_post(scope, post_at("planned", vec![account], at))
            .await?;
    }
    let media = MediaMeta {
        id: MediaId::new(),
        workspace_id: scope.workspace_id(),
        content_type: "image/png".into(),
        size: 4,
        sha256: "00".into(),
        filename: None,
        created_at: start_time(),
    };
    env.store.put_media(scope, &media).await?;
    let dir = media_dir.join(scope.workspace_id().to_string());
    std::fs::create_dir_all(&dir)?;
    let media_file = dir.join(format!("{}.png", media.id));
    std::fs::write(&media_file, b"\x89PNG")?;
    Ok(Seeded {
        scope,
        account,
        media_file,
    })
}

async fn leftovers(store: &dyn Store, s: &Seeded) -> anyhow::Result<Vec<&'static str>> {
    let scope = s.scope;
    let acc = scope.account(s.account);
    let mut left = Vec::new();
    let far = start_time() + SignedDuration::from_hours(24 * 400);
    if store.get_workspace(scope).await?.is_some() {
        left.push("workspaces");
    }
    let mut page = PageRequest::first(1000);
    loop {
        let all = store.list_all_workspaces(page.clone()).await?;
        if all.items.iter().any(|w| w.id == scope.workspace_id()) {
            left.push("workspaces_all");
        }
        match all.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    if !store
        .list_members(scope, PageRequest::first(10))
        .await?
        .items
        .is_empty()
    {
        left.push("memberships");
    }
    if !store
        .list_accounts(scope, PageRequest::first(10))
        .await?
        .items
        .is_empty()
    {
        left.push("accounts");
    }
    if store.get_account(acc).await?.is_some() {
        left.push("account");
    }
    if store.get_tokens(acc).await?.is_some() {
        left.push("account_tokens");
    }
    if store.get_data_key(scope).await?.is_some() {
        left.push("data_keys");
    }
    let keys = store.list_data_keys(PageRequest::first(1000)).await?;
    if keys
        .items
        .iter()
        .any(|k| k.workspace_id == scope.workspace_id())
    {
        left.push("data_keys_all");
    }
    let posts = store
        .list_posts(scope, &PostFilter::default(), PageRequest::first(100))
        .await?;
    if !posts.items.is_empty() {
        left.push("posts");
    }
    if !store
        .account_due(acc, Timestamp::UNIX_EPOCH, far, 100)
        .await?
        .is_empty()
    {
        left.push("account_due");
    }
    for b in hour_bucket(start_time() - SignedDuration::from_hours(2))
        ..=hour_bucket(start_time() + SignedDuration::from_hours(12))
    {
        let rows = store
            .due_in_bucket(shard_of(s.account), b, PageRequest::first(1000))
            .await?;
        if rows
            .items
            .iter()
            .any(|r| r.workspace_id == scope.workspace_id())
        {
            left.push("due_by_bucket");
            break;
        }
    }
    if !store
        .list_media(scope, PageRequest::first(10))
        .await?
        .items
        .is_empty()
    {
        left.push("media");
    }
    if !store
        .list_revoke_retries(scope, PageRequest::first(10))
        .await?
        .items
        .is_empty()
    {
        left.push("revoke_retries");
    }
    if s.media_file.exists() || s.media_file.parent().is_some_and(|d| d.exists()) {
        left.push("media files");
    }
    Ok(left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_erased_workspace_is_gone_at_once_and_purged_within_30_days() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let media_dir = env.dir.path().join("media");
    h.configure_services(EngineServices {
        media_dir: Some(media_dir.clone()),
        ..Default::default()
    })?;
    let doomed = seed(&env, &h, &media_dir).await?;
    let kept = seed(&env, &h, &media_dir).await?;
    let some_post = h
        .create_post(
            doomed.scope,
            post_at(
                "x",
                vec![doomed.account],
                start_time() + SignedDuration::from_hours(9),
            ),
        )
        .await?
        .post
        .id;

    let record = h.erase_workspace(doomed.scope).await?;
    assert!(record.completed_at.is_none());
    assert_eq!(
        record.purge_deadline,
        record.requested_at + SignedDuration::from_hours(24 * 30)
    );
    // Gone at once: no engine call reaches it, tokens are deleted and shredded.
    assert!(matches!(
        h.get_post(doomed.scope, some_post).await,
        Err(EngineError::NotFound { .. })
    ));
    assert!(matches!(
        h.create_post(
            doomed.scope,
            post_at("y", vec![doomed.account], start_time())
        )
        .await,
        Err(EngineError::NotFound { .. })
    ));
    assert!(
        env.store
            .get_tokens(doomed.scope.account(doomed.account))
            .await?
            .is_none()
    );
    assert!(env.store.get_data_key(doomed.scope).await?.is_none());
    assert!(
        env.sandbox.stats().revokes >= 1,
        "tokens were not revoked at the platform"
    );

    env.clock.advance(SignedDuration::from_hours(24 * 30));
    let report = h.run_purge_pass().await?;
    assert_eq!(report.num_workspaces, 1);
    assert_eq!(report.num_files, 1);
    let left = leftovers(env.store.as_ref(), &doomed).await?;
    assert!(left.is_empty(), "left after purge: {left:?}");
    let proof = h
        .erasure(doomed.scope.workspace_id().as_uuid())
        .await?
        .expect("ledger row");
    let done = proof.completed_at.expect("completion recorded");
    assert!(done <= proof.purge_deadline);
    assert!(proof.num_rows_purged > 0 && proof.num_files_purged == 1);

    // The neighbour is untouched.
    assert!(env.store.get_workspace(kept.scope).await?.is_some());
    assert!(
        env.store
            .get_tokens(kept.scope.account(kept.account))
            .await?
            .is_some()
    );
    let posts = env
        .store
        .list_posts(kept.scope, &PostFilter::default(), PageRequest::first(10))
        .await?;
    assert_eq!(posts.items.len(), 3);
    assert!(kept.media_file.exists());
    assert_eq!(h.run_purge_pass().await?.num_workspaces, 0);
    engine.shutdown().await;
    Ok(())
}

fn person(subject: &str) -> User {
    User {
        id: UserId::new(),
        provider: Provider::Google,
        subject: subject.into(),
        email: Some(format!("{subject}@example.com")),
        name: subject.into(),
        avatar_url: None,
        created_at: start_time(),
        birth_date_declared: None,
        marketing_consent: false,
        marketing_consent_at: None,
        instance_admin: false,
        deletion_requested_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_user_erasure_refuses_sole_owner_of_shared_workspace() -> anyhow::Result<()> {
    let env = env(|_| {}).await?;
    let engine = env.start(Env::tuning()).await?;
    let h = engine.handle();
    let alice = person("alice");
    let bob = person("bob");
    env.store.put_user(&alice).await?;
    env.store.put_user(&bob).await?;
    let solo = env.workspace().await?;
    let shared = env.workspace().await?;
    for (scope, user, role) in [
        (solo, alice.id, Role::Owner),
        (shared, alice.id, Role::Owner),
        (shared, bob.id, Role::Editor),
    ] {
        let m = Membership {
            workspace_id: scope.workspace_id(),
            user_id: user,
            role,
            created_at: start_time(),
        };
        env.store.put_membership(scope, &m).await?;
    }
    // env.workspace() adds a placeholder owner; remove it so alice is the only owner.
    for scope in [solo, shared] {
        for m in env
            .store
            .list_members(scope, PageRequest::first(10))
            .await?
            .items
        {
            if m.user_id != alice.id && m.user_id != bob.id {
                env.store.delete_membership(scope, m.user_id).await?;
            }
        }
    }
    let refused = h.erase_user(alice.id).await;
    match refused {
        Err(EngineError::Conflict(why)) => {
            assert!(why.contains(&shared.workspace_id().to_string()), "{why}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(
        env.store.get_user(alice.id).await?.is_some(),
        "refusal changed something"
    );

    // Bob is a member only: his membership goes, the workspace stays.
    let record = h.erase_user(bob.id).await?;
    assert!(record.completed_at.is_some());
    assert!(env.store.get_user(bob.id).await?.is_none());
    assert!(env.store.get_membership(shared, bob.id).await?.is_none());
    assert!(
        env.store
            .get_workspace(shared)
            .await?
            .is_some_and(|w| w.deletion_requested_at.is_none())
    );

    // Now alice owns both alone: both are erased with her.
    h.erase_user(alice.id).await?;
    assert!(env.store.get_user(alice.id).await?.is_none());
    assert!(
        env.store
            .find_user_by_subject(Provider::Google, "alice")
            .await?
            .is_none()
    );
    for scope in [solo, shared] {
        assert!(
            env.store
                .get_workspace(scope)
                .await?
                .is_some_and(|w| w.deletion_requested_at.is_some())
        );
    }
    h.run_purge_pass().await?;
    for scope in [solo, shared] {
        assert!(env.store.get_workspace(scope).await?.is_none());
    }
    engine.shutdown().await;
    Ok(())
}
