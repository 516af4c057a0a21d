//! Cases for batched post creation: every post written with its deliveries and due-index rows,
//! and an `external_id` taken at most once per workspace, even by racing writers.

use schema::{PostCreation, PostWithDeliveries, StoreError, WorkspaceScope};
use tenants::{AccountId, Post, PostStatus};

use super::DynStore;
use super::fixtures::*;

fn with_delivery(ws: tenants::WorkspaceId, acct: AccountId, ext: &str) -> PostWithDeliveries {
    let mut post: Post = post(ws, &[acct], Some(at(now(), 90)), PostStatus::Scheduled);
    post.external_id = Some(ext.to_owned());
    let d = delivery(&post, acct, at(now(), 90));
    PostWithDeliveries {
        post,
        deliveries: vec![d],
    }
}

pub async fn test_create_posts_writes_each_external_id_once(store: DynStore) {
    let ws = workspace("Batch");
    let scope = WorkspaceScope::authorized(ws.id);
    let acct = AccountId::new();
    let (a1, a2, b) = (
        with_delivery(ws.id, acct, "row-a"),
        with_delivery(ws.id, acct, "row-a"),
        with_delivery(ws.id, acct, "row-b"),
    );
    let batch = [a1.clone(), a2.clone(), b.clone()];
    let outcomes = store.create_posts(scope, &batch).await.expect("batch");
    assert_eq!(
        outcomes,
        vec![
            PostCreation::Created,
            PostCreation::Duplicate {
                existing: a1.post.id
            },
            PostCreation::Created,
        ]
    );
    for written in [&a1, &b] {
        assert_eq!(
            store.get_post(scope, written.post.id).await.expect("get"),
            Some(written.post.clone())
        );
        assert_eq!(
            store
                .list_deliveries_of_post(scope, written.post.id)
                .await
                .expect("deliveries"),
            written.deliveries
        );
    }
    assert_eq!(store.get_post(scope, a2.post.id).await.expect("get"), None);
    assert!(
        store
            .list_deliveries_of_post(scope, a2.post.id)
            .await
            .expect("deliveries")
            .is_empty()
    );
    let due = store
        .account_due(scope.account(acct), now(), at(now(), 120), 10)
        .await
        .expect("due");
    assert_eq!(due.len(), 2, "only the written posts are due: {due:?}");

    // A later batch, and a single create, find the stored holder.
    let again = with_delivery(ws.id, acct, "row-b");
    assert_eq!(
        store
            .create_posts(scope, std::slice::from_ref(&again))
            .await
            .expect("again"),
        vec![PostCreation::Duplicate {
            existing: b.post.id
        }]
    );
    assert!(matches!(
        store
            .create_post(scope, &again.post, &again.deliveries)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    // Another workspace may use the same external id.
    let other = workspace("Batch other");
    let other_scope = WorkspaceScope::authorized(other.id);
    let elsewhere = with_delivery(other.id, acct, "row-b");
    assert_eq!(
        store
            .create_posts(other_scope, &[elsewhere])
            .await
            .expect("other"),
        vec![PostCreation::Created]
    );
}

pub async fn test_create_posts_race_has_one_winner_per_external_id(store: DynStore) {
    let ws = workspace("Batch race");
    let scope = WorkspaceScope::authorized(ws.id);
    let acct = AccountId::new();
    let uploads: Vec<Vec<PostWithDeliveries>> = (0..4)
        .map(|_| {
            (0..20)
                .map(|i| with_delivery(ws.id, acct, &format!("race-{i}")))
                .collect()
        })
        .collect();
    let outcomes = futures::future::join_all(uploads.iter().map(|batch| {
        let store = store.clone();
        async move { store.create_posts(scope, batch).await.expect("batch") }
    }))
    .await;
    for i in 0..20 {
        let winners: Vec<_> = outcomes
            .iter()
            .zip(&uploads)
            .filter(|(o, _)| o[i] == PostCreation::Created)
            .map(|(_, batch)| batch[i].post.id)
            .collect();
        assert_eq!(winners.len(), 1, "race-{i}: exactly one upload creates it");
        assert_eq!(
            store
                .find_post_by_external_id(scope, &format!("race-{i}"))
                .await
                .expect("find"),
            Some(winners[0])
        );
        for o in &outcomes {
            if o[i] != PostCreation::Created {
                assert_eq!(
                    o[i],
                    PostCreation::Duplicate {
                        existing: winners[0]
                    }
                );
            }
        }
    }
}
