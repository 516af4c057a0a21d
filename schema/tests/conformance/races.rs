//! Cases for compare-and-set transitions and idempotency claims, including races.

use jiff::SignedDuration;
use schema::{CasOutcome, IdempotencyClaim, StoredResponse, WorkspaceScope};
use tenants::{AccountId, Delivery, DeliveryError, DeliveryEvent, DeliveryState, PostStatus};
use uuid::Uuid;

use super::DynStore;
use super::fixtures::*;

async fn scheduled_delivery(store: &DynStore) -> (WorkspaceScope, Delivery) {
    let ws = workspace("Cas");
    let scope = WorkspaceScope::authorized(ws.id);
    let acct = AccountId::new();
    let p = post(ws.id, &[acct], Some(now()), PostStatus::Scheduled);
    let d = delivery(&p, acct, at(now(), 5));
    store
        .create_post(scope, &p, std::slice::from_ref(&d))
        .await
        .expect("create");
    (scope, d)
}

pub async fn test_transition_compare_and_set(store: DynStore) {
    let (scope, d) = scheduled_delivery(&store).await;
    let acct = scope.account(d.account_id);
    let submitting = d.apply(&DeliveryEvent::Submit, now()).expect("legal");
    assert_eq!(
        store
            .transition(acct, d.version, &submitting)
            .await
            .expect("cas"),
        CasOutcome::Applied
    );
    assert_eq!(
        store
            .get_delivery(scope, d.post_id, d.id)
            .await
            .expect("get"),
        Some(submitting.clone())
    );

    // A writer still holding the old version loses and sees what is stored.
    let stale = d
        .apply(
            &DeliveryEvent::Cancel {
                reason: DeliveryError::new("canceled_by_user", "x"),
            },
            now(),
        )
        .expect("legal");
    match store
        .transition(acct, d.version, &stale)
        .await
        .expect("cas")
    {
        CasOutcome::Conflict(Some(current)) => assert_eq!(*current, submitting),
        other => panic!("expected a conflict with the stored row, got {other:?}"),
    }

    // A retry moves the delivery to a new due time and indexes it there.
    let retry_at = at(now(), 90);
    let retry = submitting
        .apply(
            &DeliveryEvent::RetryLater {
                error: DeliveryError::new("rate_limited", "429"),
                retry_at,
            },
            now(),
        )
        .expect("legal");
    assert_eq!(
        store
            .transition(acct, submitting.version, &retry)
            .await
            .expect("cas"),
        CasOutcome::Applied
    );
    let due = store
        .account_due(acct, at(now(), 80), at(now(), 100), 10)
        .await
        .expect("due");
    assert_eq!(
        due.iter()
            .map(|r| (r.delivery_id, r.due_at))
            .collect::<Vec<_>>(),
        vec![(d.id, retry_at)]
    );
    assert_eq!(
        store
            .get_delivery(scope, d.post_id, d.id)
            .await
            .expect("get")
            .map(|d| d.state),
        Some(DeliveryState::Scheduled)
    );

    let mut ghost = retry.clone();
    ghost.id = tenants::DeliveryId::new();
    assert_eq!(
        store.transition(acct, 0, &ghost).await.expect("cas"),
        CasOutcome::Conflict(None),
        "a missing delivery is a conflict"
    );
}

pub async fn test_transition_many_settles_each_move_on_its_own(store: DynStore) {
    let ws = workspace("CasMany");
    let scope = WorkspaceScope::authorized(ws.id);
    let acct_id = AccountId::new();
    let acct = scope.account(acct_id);
    let mut stored = Vec::new();
    for i in 0..3 {
        let p = post(ws.id, &[acct_id], Some(now()), PostStatus::Scheduled);
        let d = delivery(&p, acct_id, at(now(), 5 + i));
        store
            .create_post(scope, &p, std::slice::from_ref(&d))
            .await
            .expect("create");
        stored.push(d);
    }
    let submit = |d: &Delivery| d.apply(&DeliveryEvent::Submit, now()).expect("legal");
    let (a, b, c) = (submit(&stored[0]), submit(&stored[1]), submit(&stored[2]));
    let moves = vec![
        (stored[0].version, a.clone()),
        // A stale version loses on its own, and the moves around it still land.
        (stored[1].version + 7, b.clone()),
        (stored[2].version, c.clone()),
        // The same delivery twice in one call: only the first move may apply.
        (stored[2].version, c.clone()),
    ];
    let outcomes: Vec<CasOutcome> = store
        .transition_many(acct, &moves)
        .await
        .into_iter()
        .map(|r| r.expect("cas"))
        .collect();
    assert_eq!(outcomes[0], CasOutcome::Applied);
    match &outcomes[1] {
        CasOutcome::Conflict(Some(current)) => assert_eq!(**current, stored[1]),
        other => panic!("expected a conflict with the stored row, got {other:?}"),
    }
    assert_eq!(outcomes[2], CasOutcome::Applied);
    assert!(
        matches!(outcomes[3], CasOutcome::Conflict(_)),
        "a repeated move must not apply twice: {:?}",
        outcomes[3]
    );
    for (d, want) in [(&stored[0], &a), (&stored[1], &stored[1]), (&stored[2], &c)] {
        assert_eq!(
            store
                .get_delivery(scope, d.post_id, d.id)
                .await
                .expect("get")
                .as_ref(),
            Some(want)
        );
    }

    // Into `published` together: both count against the account's quota.
    let publish = |d: &Delivery| {
        d.apply(
            &DeliveryEvent::Publish {
                platform_post_id: format!("p-{}", d.id),
                published_at: now(),
            },
            now(),
        )
        .expect("legal")
    };
    let moves = vec![(a.version, publish(&a)), (c.version, publish(&c))];
    for outcome in store.transition_many(acct, &moves).await {
        assert_eq!(outcome.expect("cas"), CasOutcome::Applied);
    }
    let published = store
        .account_publishes(acct, at(now(), -60))
        .await
        .expect("publishes");
    assert_eq!(published.len(), 2, "{published:?}");

    // A move of another account's delivery is refused, not applied.
    let other = scope.account(AccountId::new());
    let refused = store
        .transition_many(other, &[(stored[1].version, b.clone())])
        .await;
    assert!(refused[0].is_err(), "{refused:?}");
    assert_eq!(
        store
            .get_delivery(scope, stored[1].post_id, stored[1].id)
            .await
            .expect("get"),
        Some(stored[1].clone())
    );
}

pub async fn test_transition_race_has_one_winner(store: DynStore) {
    let (scope, mut d) = scheduled_delivery(&store).await;
    let acct = scope.account(d.account_id);
    for round in 0..40 {
        // Two actors that both believe they own the delivery at `d.version`.
        let a = d
            .apply(
                &DeliveryEvent::Reschedule {
                    due_at: at(now(), 10 + round),
                },
                now(),
            )
            .expect("legal");
        let b = d
            .apply(
                &DeliveryEvent::Hold {
                    reason: DeliveryError::new("held", "x"),
                    retry_at: None,
                },
                now(),
            )
            .expect("legal");
        let (s1, s2) = (store.clone(), store.clone());
        let v = d.version;
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { s1.transition(acct, v, &a).await }),
            tokio::spawn(async move { s2.transition(acct, v, &b).await })
        );
        let ra = ra.expect("join").expect("cas a");
        let rb = rb.expect("join").expect("cas b");
        let wins = [&ra, &rb]
            .iter()
            .filter(|r| ***r == CasOutcome::Applied)
            .count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one writer wins, got {ra:?} / {rb:?}"
        );
        let stored = store
            .get_delivery(scope, d.post_id, d.id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(stored.version, v + 1);
        // Move back to scheduled for the next round.
        d = if stored.state == DeliveryState::Held {
            let released = stored
                .apply(
                    &DeliveryEvent::Release {
                        due_at: at(now(), 5),
                    },
                    now(),
                )
                .expect("legal");
            assert_eq!(
                store
                    .transition(acct, stored.version, &released)
                    .await
                    .expect("cas"),
                CasOutcome::Applied
            );
            released
        } else {
            stored
        };
    }
}

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        body: body.as_bytes().to_vec(),
        content_type: "application/json".into(),
    }
}

pub async fn test_idempotency_claim_complete_release(store: DynStore) {
    let key = format!("k:{}", Uuid::new_v4());
    let t = now();
    let expires = t + SignedDuration::from_hours(24);
    assert_eq!(
        store
            .claim_idempotency(&key, "fp1", expires, t)
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed
    );
    match store
        .claim_idempotency(&key, "fp2", expires, t)
        .await
        .expect("claim")
    {
        IdempotencyClaim::Existing(r) => {
            assert_eq!(r.fingerprint, "fp1");
            assert_eq!(r.response, None, "in flight");
        }
        other => panic!("expected existing, got {other:?}"),
    }
    store
        .complete_idempotency(&key, &response("{\"id\":1}"))
        .await
        .expect("complete");
    match store
        .claim_idempotency(&key, "fp1", expires, t)
        .await
        .expect("claim")
    {
        IdempotencyClaim::Existing(r) => assert_eq!(r.response, Some(response("{\"id\":1}"))),
        other => panic!("expected existing, got {other:?}"),
    }
    let other = format!("k:{}", Uuid::new_v4());
    store
        .claim_idempotency(&other, "fp", expires, t)
        .await
        .expect("claim");
    store.release_idempotency(&other).await.expect("release");
    assert_eq!(
        store
            .claim_idempotency(&other, "fp", expires, t)
            .await
            .expect("reclaim"),
        IdempotencyClaim::Claimed
    );
}

pub async fn test_idempotency_claim_race_has_one_winner(store: DynStore) {
    let t = now();
    let expires = t + SignedDuration::from_hours(1);
    for round in 0..25 {
        let key = format!("race:{round}:{}", Uuid::new_v4());
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    store
                        .claim_idempotency(&key, &format!("fp{i}"), expires, t)
                        .await
                })
            })
            .collect();
        let mut claimed = 0;
        for task in tasks {
            if task.await.expect("join").expect("claim") == IdempotencyClaim::Claimed {
                claimed += 1;
            }
        }
        assert_eq!(claimed, 1, "round {round}: exactly one claim wins");
    }
}

pub async fn test_idempotency_expired_record_is_not_returned(store: DynStore) {
    let key = format!("ttl:{}", Uuid::new_v4());
    let t = now();
    let expires = t + SignedDuration::from_mins(10);
    assert_eq!(
        store
            .claim_idempotency(&key, "old", expires, t)
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed
    );
    let later = t + SignedDuration::from_mins(11);
    assert_eq!(
        store
            .claim_idempotency(&key, "new", later + SignedDuration::from_hours(1), later)
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed,
        "an expired record is free again"
    );
    match store
        .claim_idempotency(&key, "other", later, later)
        .await
        .expect("claim")
    {
        IdempotencyClaim::Existing(r) => assert_eq!(r.fingerprint, "new"),
        other => panic!("expected the new claim, got {other:?}"),
    }
    store
        .sweep_expired(later + SignedDuration::from_hours(2))
        .await
        .expect("sweep");
    assert_eq!(
        store
            .claim_idempotency(
                &key,
                "after-sweep",
                later + SignedDuration::from_hours(3),
                later + SignedDuration::from_hours(2)
            )
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed
    );
}

pub async fn test_create_data_key_keeps_the_first(store: DynStore) {
    let ws = workspace("Keys");
    let scope = WorkspaceScope::authorized(ws.id);
    let mut first = data_key(ws.id);
    first.master_key_id = "first".into();
    let mut second = data_key(ws.id);
    second.master_key_id = "second".into();
    assert_eq!(
        store.create_data_key(scope, &first).await.expect("create"),
        first
    );
    assert_eq!(
        store
            .create_data_key(scope, &second)
            .await
            .expect("create again"),
        first,
        "the first key stays"
    );
    assert_eq!(
        store.get_data_key(scope).await.expect("get"),
        Some(first.clone())
    );

    // Racing creators on a fresh workspace all end up with the one stored key.
    for round in 0..10 {
        let ws = workspace(&format!("race-{round}"));
        let scope = WorkspaceScope::authorized(ws.id);
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let store = store.clone();
                let mut k = data_key(ws.id);
                k.master_key_id = format!("creator-{i}");
                tokio::spawn(async move { store.create_data_key(scope, &k).await })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            winners.push(t.await.expect("join").expect("create").master_key_id);
        }
        let stored = store
            .get_data_key(scope)
            .await
            .expect("get")
            .expect("stored");
        assert!(
            winners.iter().all(|w| *w == stored.master_key_id),
            "round {round}: {winners:?} vs {}",
            stored.master_key_id
        );
    }
}

pub async fn test_account_publishes_list_what_became_published(store: DynStore) {
    let (scope, d) = scheduled_delivery(&store).await;
    let acct = scope.account(d.account_id);
    let hour_ago = now() - SignedDuration::from_hours(1);
    assert!(
        store
            .account_publishes(acct, hour_ago)
            .await
            .expect("none yet")
            .is_empty()
    );
    publish(&store, scope, &d, hour_ago).await;
    let two_hours_ago = now() - SignedDuration::from_hours(2);
    assert_eq!(
        store
            .account_publishes(acct, two_hours_ago)
            .await
            .expect("publishes"),
        vec![hour_ago]
    );
    // Only from `since` on, and only this account's.
    let since_now = store.account_publishes(acct, now()).await.expect("since");
    assert!(since_now.is_empty());
    let other = scope.account(AccountId::new());
    let others = store.account_publishes(other, two_hours_ago).await;
    assert!(others.expect("other").is_empty());
    // A delivery that fails is not a publish.
    let (scope, failing) = scheduled_delivery(&store).await;
    let acct = scope.account(failing.account_id);
    let submitting = failing.apply(&DeliveryEvent::Submit, now()).expect("legal");
    let cas = store.transition(acct, failing.version, &submitting).await;
    assert_eq!(cas.expect("cas"), CasOutcome::Applied);
    let error = DeliveryError::new("rejected", "the platform refused it");
    let failed = submitting
        .apply(&DeliveryEvent::Fail(error), now())
        .expect("legal");
    let cas = store.transition(acct, submitting.version, &failed).await;
    assert_eq!(cas.expect("cas"), CasOutcome::Applied);
    let none = store.account_publishes(acct, two_hours_ago).await;
    assert!(none.expect("failed").is_empty());
}
