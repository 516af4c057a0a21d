//! Cases for tenant isolation: a scope for workspace A never reads or writes B's rows.

use schema::{PageRequest, PostFilter, StoreError, WorkspaceScope};
use tenants::{AccountId, Delivery, Post, PostStatus, Role, UserId};

use super::fixtures::*;

const NO_FILTER: PostFilter = PostFilter {
    status: None,
    from: None,
    to: None,
    account_id: None,
};
use super::{DynStore, walk};

struct Tenant {
    scope: WorkspaceScope,
    account: AccountId,
    member: UserId,
    post: Post,
    delivery: Delivery,
    media: tenants::MediaId,
}

async fn seed(store: &DynStore, name: &str) -> Tenant {
    let ws = workspace(name);
    let scope = WorkspaceScope::authorized(ws.id);
    let member = UserId::new();
    store
        .create_workspace(&ws, &membership(ws.id, member, Role::Owner))
        .await
        .expect("workspace");
    let a = account(ws.id, name);
    store.put_account(scope, &a).await.expect("account");
    store
        .put_tokens(scope.account(a.id), &tokens(3))
        .await
        .expect("tokens");
    store
        .put_data_key(scope, &data_key(ws.id))
        .await
        .expect("data key");
    let m = media(ws.id);
    store.put_media(scope, &m).await.expect("media");
    let mut p = post(ws.id, &[a.id], Some(at(now(), 30)), PostStatus::Scheduled);
    p.external_id = Some("shared-external-id".into());
    let d = delivery(&p, a.id, at(now(), 30));
    store
        .create_post(scope, &p, std::slice::from_ref(&d))
        .await
        .expect("post");
    Tenant {
        scope,
        account: a.id,
        member,
        post: p,
        delivery: d,
        media: m.id,
    }
}

pub async fn test_scope_isolation_on_every_read(store: DynStore) {
    let a = seed(&store, "tenant-a").await;
    let b = seed(&store, "tenant-b").await;
    let s = a.scope;
    let foreign = s.account(b.account);
    let t = now();

    assert_eq!(store.get_account(foreign).await.expect("account"), None);
    assert_eq!(store.get_tokens(foreign).await.expect("tokens"), None);
    let accounts = walk(10, |p| store.list_accounts(s, p)).await;
    assert_eq!(
        accounts.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![a.account]
    );

    assert_eq!(store.get_post(s, b.post.id).await.expect("post"), None);
    let posts = walk(10, |p| store.list_posts(s, &NO_FILTER, p)).await;
    assert_eq!(
        posts.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![a.post.id]
    );
    let by_b_account = PostFilter {
        account_id: Some(b.account),
        ..Default::default()
    };
    assert!(
        walk(10, |p| store.list_posts(s, &by_b_account, p))
            .await
            .is_empty()
    );
    assert_eq!(
        store
            .find_post_by_external_id(s, "shared-external-id")
            .await
            .expect("ext"),
        Some(a.post.id)
    );

    assert_eq!(
        store
            .get_delivery(s, b.post.id, b.delivery.id)
            .await
            .expect("delivery"),
        None
    );
    assert!(
        store
            .list_deliveries_of_post(s, b.post.id)
            .await
            .expect("deliveries")
            .is_empty()
    );
    let due = store
        .account_due(foreign, at(t, -60), at(t, 120), 100)
        .await
        .expect("due");
    assert!(
        due.is_empty(),
        "another tenant's due rows are invisible: {due:?}"
    );
    let own_due = store
        .account_due(s.account(a.account), at(t, -60), at(t, 120), 100)
        .await
        .expect("due");
    assert_eq!(
        own_due.iter().map(|r| r.delivery_id).collect::<Vec<_>>(),
        vec![a.delivery.id]
    );

    assert_eq!(
        store.get_membership(s, b.member).await.expect("member"),
        None
    );
    let members = walk(10, |p| store.list_members(s, p)).await;
    assert_eq!(
        members.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        vec![a.member]
    );

    assert_eq!(
        store
            .get_data_key(s)
            .await
            .expect("key")
            .map(|k| k.workspace_id),
        Some(s.workspace_id())
    );
    assert_eq!(store.get_media(s, b.media).await.expect("media"), None);
    let media = walk(10, |p| store.list_media(s, p)).await;
    assert_eq!(
        media.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![a.media]
    );
    assert_eq!(
        store.get_workspace(s).await.expect("ws").map(|w| w.id),
        Some(s.workspace_id())
    );

    // Deletes through A's scope leave B untouched.
    store.delete_post(s, b.post.id).await.expect("delete");
    store.delete_tokens(foreign).await.expect("delete");
    store.delete_media(s, b.media).await.expect("delete");
    store.delete_membership(s, b.member).await.expect("delete");
    assert!(
        store
            .get_post(b.scope, b.post.id)
            .await
            .expect("b post")
            .is_some()
    );
    assert!(
        store
            .get_tokens(b.scope.account(b.account))
            .await
            .expect("b tokens")
            .is_some()
    );
    assert!(
        store
            .get_media(b.scope, b.media)
            .await
            .expect("b media")
            .is_some()
    );
    assert!(
        store
            .get_membership(b.scope, b.member)
            .await
            .expect("b member")
            .is_some()
    );
}

pub async fn test_scoped_writes_refuse_foreign_rows(store: DynStore) {
    let a = seed(&store, "writer-a").await;
    let b = seed(&store, "writer-b").await;
    let s = a.scope;
    let out_of_scope = |r: Result<(), StoreError>| matches!(r, Err(StoreError::OutOfScope { .. }));

    assert!(out_of_scope(
        store
            .put_account(s, &account(b.scope.workspace_id(), "x"))
            .await
    ));
    assert!(out_of_scope(store.update_post(s, &b.post).await));
    assert!(out_of_scope(store.create_post(s, &b.post, &[]).await));
    assert!(out_of_scope(
        store.put_media(s, &media(b.scope.workspace_id())).await
    ));
    assert!(out_of_scope(
        store
            .put_data_key(s, &data_key(b.scope.workspace_id()))
            .await
    ));
    assert!(out_of_scope(
        store
            .put_membership(
                s,
                &membership(b.scope.workspace_id(), UserId::new(), Role::Admin)
            )
            .await
    ));
    let next = b
        .delivery
        .apply(&tenants::DeliveryEvent::Submit, now())
        .expect("legal");
    let r = store
        .transition(s.account(b.account), b.delivery.version, &next)
        .await;
    assert!(matches!(r, Err(StoreError::OutOfScope { .. })), "{r:?}");
    let r = store
        .transition(s.account(a.account), b.delivery.version, &next)
        .await;
    assert!(matches!(r, Err(StoreError::OutOfScope { .. })), "{r:?}");
    assert_eq!(
        store
            .get_delivery(b.scope, b.post.id, b.delivery.id)
            .await
            .expect("b"),
        Some(b.delivery)
    );
}

pub async fn test_cursors_are_bound_to_their_partition(store: DynStore) {
    let a = seed(&store, "cursor-a").await;
    let b = seed(&store, "cursor-b").await;
    for s in [a.scope, b.scope] {
        let p = post(s.workspace_id(), &[], None, PostStatus::Draft);
        store.create_post(s, &p, &[]).await.expect("post");
    }
    let page = store
        .list_posts(b.scope, &PostFilter::default(), PageRequest::first(1))
        .await
        .expect("page");
    let cursor = page.next_cursor.expect("more pages");
    let r = store
        .list_posts(
            a.scope,
            &PostFilter::default(),
            PageRequest {
                cursor: Some(cursor),
                limit: 1,
            },
        )
        .await;
    assert!(matches!(r, Err(StoreError::InvalidCursor)), "{r:?}");
    let r = store
        .list_accounts(
            a.scope,
            PageRequest {
                cursor: Some("not a cursor!".into()),
                limit: 1,
            },
        )
        .await;
    assert!(matches!(r, Err(StoreError::InvalidCursor)), "{r:?}");
}
