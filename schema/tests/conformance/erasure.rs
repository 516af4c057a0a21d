//! Revocation retries, the erasure ledger and the workspace purge: after a purge nothing of the
//! workspace is readable through any call, and a neighbouring workspace is untouched.

use schema::{
    ErasureRecord, ErasureSubject, PageRequest, PostFilter, RevokeRetry, RevokeState,
    RevokeTokenKind, WorkspaceScope, hour_bucket, shard_of,
};
use tenants::{AccountId, PostStatus, Role, UserId, WorkspaceId};

use super::fixtures::*;
use super::{DynStore, walk};

fn retry(ws: WorkspaceId, account: AccountId, kind: RevokeTokenKind) -> RevokeRetry {
    RevokeRetry {
        workspace_id: ws,
        account_id: account,
        platform: tenants::Platform::Linkedin,
        token_kind: kind,
        token: Some(sealed(7)),
        state: RevokeState::Pending,
        attempts: 1,
        next_attempt_at: now(),
        last_error: Some("platform unavailable".into()),
        created_at: now(),
        updated_at: now(),
    }
}

pub async fn test_revoke_retries_upsert_and_page_by_workspace(store: DynStore) {
    let ws = workspace("retries");
    let other = workspace("other");
    let owner = membership(ws.id, UserId::new(), Role::Owner);
    store.create_workspace(&ws, &owner).await.expect("ws");
    let scope = WorkspaceScope::authorized(ws.id);
    let a = AccountId::new();
    let b = AccountId::new();
    for (acc, kind) in [
        (a, RevokeTokenKind::Refresh),
        (a, RevokeTokenKind::Access),
        (b, RevokeTokenKind::Refresh),
    ] {
        store
            .put_revoke_retry(scope, &retry(ws.id, acc, kind))
            .await
            .expect("put");
    }
    let mut done = retry(ws.id, a, RevokeTokenKind::Refresh);
    done.state = RevokeState::Succeeded;
    done.token = None;
    store.put_revoke_retry(scope, &done).await.expect("update");
    let all = walk(1, |p| store.list_revoke_retries(scope, p)).await;
    assert_eq!(all.len(), 3);
    assert!(all.contains(&done));
    let foreign = retry(other.id, a, RevokeTokenKind::Access);
    assert!(store.put_revoke_retry(scope, &foreign).await.is_err());
    let none = store
        .list_revoke_retries(WorkspaceScope::authorized(other.id), PageRequest::first(10))
        .await
        .expect("list");
    assert!(none.items.is_empty());
}

pub async fn test_purge_workspace_leaves_nothing_and_spares_others(store: DynStore) {
    let mut ids = Vec::new();
    for name in ["doomed", "kept"] {
        let ws = workspace(name);
        let user = user(&format!("{name}-{}", uuid::Uuid::new_v4()));
        store.put_user(&user).await.expect("user");
        store
            .create_workspace(&ws, &membership(ws.id, user.id, Role::Owner))
            .await
            .expect("ws");
        let scope = WorkspaceScope::authorized(ws.id);
        let acc = account(ws.id, name);
        store.put_account(scope, &acc).await.expect("account");
        store
            .put_tokens(scope.account(acc.id), &tokens(1))
            .await
            .expect("tokens");
        store
            .put_data_key(scope, &data_key(ws.id))
            .await
            .expect("key");
        store.put_media(scope, &media(ws.id)).await.expect("media");
        store
            .put_revoke_retry(scope, &retry(ws.id, acc.id, RevokeTokenKind::Refresh))
            .await
            .expect("retry");
        for i in 0..5 {
            let due = at(now(), 60 * 24 * i);
            let mut p = post(ws.id, &[acc.id], Some(due), PostStatus::Scheduled);
            p.external_id = Some(format!("ext-{i}"));
            let d = delivery(&p, acc.id, due);
            store.create_post(scope, &p, &[d]).await.expect("post");
        }
        let p = post(ws.id, &[acc.id], Some(now()), PostStatus::Scheduled);
        let d = delivery(&p, acc.id, now());
        store
            .create_post(scope, &p, std::slice::from_ref(&d))
            .await
            .expect("post");
        publish(&store, scope, &d, now()).await;
        ids.push((ws.id, user.id, acc.id));
    }
    let (doomed, doomed_user, doomed_acc) = ids[0];
    let scope = WorkspaceScope::authorized(doomed);
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 100, "purge did not finish");
        if store.purge_workspace(scope, 3).await.expect("purge").done {
            break;
        }
    }
    assert!(rounds > 1, "a small budget must take several calls");
    assert!(store.get_workspace(scope).await.expect("ws").is_none());
    let all_ws = walk(100, |p| store.list_all_workspaces(p)).await;
    assert!(all_ws.iter().all(|w| w.id != doomed));
    assert!(store.get_data_key(scope).await.expect("key").is_none());
    let acc_scope = scope.account(doomed_acc);
    assert!(store.get_account(acc_scope).await.expect("acc").is_none());
    assert!(store.get_tokens(acc_scope).await.expect("tok").is_none());
    let filter = PostFilter::default();
    let posts = store
        .list_posts(scope, &filter, PageRequest::first(100))
        .await
        .expect("posts");
    assert!(posts.items.is_empty());
    assert!(
        store
            .find_post_by_external_id(scope, "ext-1")
            .await
            .expect("ext")
            .is_none()
    );
    let far = at(now(), 60 * 24 * 30);
    assert!(
        store
            .account_due(acc_scope, jiff::Timestamp::UNIX_EPOCH, far, 100)
            .await
            .expect("due")
            .is_empty()
    );
    let day_ago = now() - jiff::SignedDuration::from_hours(24);
    let publishes = store.account_publishes(acc_scope, day_ago).await;
    assert!(publishes.expect("publishes").is_empty());
    let shard = shard_of(doomed_acc);
    for b in hour_bucket(now())..=hour_bucket(far) {
        let rows = store
            .due_in_bucket(shard, b, PageRequest::first(1000))
            .await
            .expect("bucket");
        assert!(rows.items.iter().all(|r| r.workspace_id != doomed));
    }
    assert!(
        store
            .list_media(scope, PageRequest::first(10))
            .await
            .expect("media")
            .items
            .is_empty()
    );
    assert!(
        store
            .list_members(scope, PageRequest::first(10))
            .await
            .expect("m")
            .items
            .is_empty()
    );
    assert!(
        store
            .list_memberships_of_user(doomed_user)
            .await
            .expect("m")
            .is_empty()
    );
    assert!(
        store
            .list_revoke_retries(scope, PageRequest::first(10))
            .await
            .expect("r")
            .items
            .is_empty()
    );
    // The neighbour is untouched.
    let (kept, kept_user, kept_acc) = ids[1];
    let kscope = WorkspaceScope::authorized(kept);
    assert!(store.get_workspace(kscope).await.expect("ws").is_some());
    let publishes = store
        .account_publishes(kscope.account(kept_acc), day_ago)
        .await;
    assert_eq!(publishes.expect("kept publishes").len(), 1);
    assert!(
        store
            .get_tokens(kscope.account(kept_acc))
            .await
            .expect("t")
            .is_some()
    );
    let kposts = store
        .list_posts(kscope, &filter, PageRequest::first(100))
        .await
        .expect("posts");
    // Five scheduled, one published.
    assert_eq!(kposts.items.len(), 6);
    assert_eq!(
        store
            .list_memberships_of_user(kept_user)
            .await
            .expect("m")
            .len(),
        1
    );
    assert_eq!(
        store
            .account_due(
                kscope.account(kept_acc),
                jiff::Timestamp::UNIX_EPOCH,
                far,
                100
            )
            .await
            .expect("due")
            .len(),
        // Five scheduled, and the published one's row from when it was due (index rows of a
        // terminal delivery stay until they expire; the actors skip them).
        6
    );
}

pub async fn test_erasure_ledger_and_user_delete(store: DynStore) {
    let u = user(&format!("gone-{}", uuid::Uuid::new_v4()));
    store.put_user(&u).await.expect("user");
    let record = ErasureRecord {
        subject_id: u.id.as_uuid(),
        subject: ErasureSubject::User,
        requested_at: now(),
        purge_deadline: at(now(), 60 * 24 * 30),
        completed_at: Some(now()),
        num_rows_purged: 3,
        num_files_purged: 0,
        num_tokens_revoked: 0,
        num_revokes_failed: 0,
    };
    store.put_erasure(&record).await.expect("ledger");
    store.delete_user(u.id).await.expect("delete");
    assert!(store.get_user(u.id).await.expect("get").is_none());
    assert!(
        store
            .find_user_by_subject(u.provider, &u.subject)
            .await
            .expect("find")
            .is_none()
    );
    let everyone = walk(100, |p| store.list_users(p)).await;
    assert!(everyone.iter().all(|x| x.id != u.id));
    assert_eq!(
        store.get_erasure(u.id.as_uuid()).await.expect("ledger"),
        Some(record)
    );
}
