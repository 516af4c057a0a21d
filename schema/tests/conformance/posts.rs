//! Cases for posts, their listing order and filters, and the due index.

use schema::{DueRef, PageRequest, PostFilter, WorkspaceScope, hour_bucket, shard_of};
use tenants::{AccountId, Delivery, PostId, PostStatus};

use super::fixtures::*;

const NO_FILTER: PostFilter = PostFilter {
    status: None,
    from: None,
    to: None,
    account_id: None,
};
use super::{DynStore, walk};

pub async fn test_posts_newest_first_with_cursor(store: DynStore) {
    let ws = workspace("Posts");
    let scope = WorkspaceScope::authorized(ws.id);
    let acct = AccountId::new();
    let mut ids = Vec::new();
    for _ in 0..7 {
        let p = post(ws.id, &[acct], None, PostStatus::Draft);
        store.create_post(scope, &p, &[]).await.expect("create");
        ids.push(p.id);
    }
    ids.sort();
    ids.reverse();
    let first = store
        .list_posts(scope, &PostFilter::default(), PageRequest::first(3))
        .await
        .expect("page");
    assert_eq!(
        first.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        ids[..3].to_vec()
    );
    assert!(first.next_cursor.is_some());
    let all = walk(3, |p| store.list_posts(scope, &NO_FILTER, p)).await;
    assert_eq!(
        all.iter().map(|p| p.id).collect::<Vec<_>>(),
        ids,
        "newest first, each once"
    );
    let exact = walk(7, |p| store.list_posts(scope, &NO_FILTER, p)).await;
    assert_eq!(exact.len(), 7);
}

pub async fn test_posts_filters(store: DynStore) {
    let ws = workspace("Filters");
    let scope = WorkspaceScope::authorized(ws.id);
    let (a, b) = (AccountId::new(), AccountId::new());
    let t = now();
    let p1 = post(ws.id, &[a], Some(at(t, 10)), PostStatus::Scheduled);
    let p2 = post(ws.id, &[b], Some(at(t, 20)), PostStatus::Scheduled);
    let p3 = post(ws.id, &[a, b], Some(at(t, 30)), PostStatus::Published);
    let p4 = post(ws.id, &[a], None, PostStatus::Draft);
    for p in [&p1, &p2, &p3, &p4] {
        store.create_post(scope, p, &[]).await.expect("create");
    }
    let ids = |f: PostFilter| {
        let store = store.clone();
        async move {
            let mut v: Vec<PostId> = walk(2, |p| store.list_posts(scope, &f, p))
                .await
                .iter()
                .map(|p| p.id)
                .collect();
            v.sort();
            v
        }
    };
    let sorted = |mut v: Vec<PostId>| {
        v.sort();
        v
    };
    let by_status = PostFilter {
        status: Some(PostStatus::Scheduled),
        ..Default::default()
    };
    assert_eq!(ids(by_status).await, sorted(vec![p1.id, p2.id]));
    let by_account = PostFilter {
        account_id: Some(b),
        ..Default::default()
    };
    assert_eq!(ids(by_account).await, sorted(vec![p2.id, p3.id]));
    let window = PostFilter {
        from: Some(at(t, 10)),
        to: Some(at(t, 30)),
        ..Default::default()
    };
    assert_eq!(
        ids(window).await,
        sorted(vec![p1.id, p2.id]),
        "from inclusive, to exclusive"
    );
    let combined = PostFilter {
        account_id: Some(a),
        from: Some(at(t, 15)),
        ..Default::default()
    };
    assert_eq!(ids(combined).await, vec![p3.id]);
    assert_eq!(ids(PostFilter::default()).await.len(), 4);
}

pub async fn test_posts_external_id_update_and_delete(store: DynStore) {
    let ws = workspace("External");
    let scope = WorkspaceScope::authorized(ws.id);
    let acct = AccountId::new();
    let mut p = post(ws.id, &[acct], Some(at(now(), 60)), PostStatus::Draft);
    p.external_id = Some("row-17".into());
    let d = delivery(&p, acct, at(now(), 60));
    store
        .create_post(scope, &p, std::slice::from_ref(&d))
        .await
        .expect("create");
    assert_eq!(
        store.get_post(scope, p.id).await.expect("get"),
        Some(p.clone())
    );
    assert_eq!(
        store
            .find_post_by_external_id(scope, "row-17")
            .await
            .expect("find"),
        Some(p.id)
    );
    assert_eq!(
        store
            .list_deliveries_of_post(scope, p.id)
            .await
            .expect("deliveries"),
        vec![d.clone()]
    );
    assert_eq!(
        store
            .get_delivery(scope, p.id, d.id)
            .await
            .expect("delivery"),
        Some(d.clone())
    );

    p.caption = "edited".into();
    p.external_id = Some("row-18".into());
    store.update_post(scope, &p).await.expect("update");
    assert_eq!(
        store
            .get_post(scope, p.id)
            .await
            .expect("get")
            .map(|p| p.caption),
        Some("edited".into())
    );
    assert_eq!(
        store
            .find_post_by_external_id(scope, "row-17")
            .await
            .expect("old"),
        None
    );
    assert_eq!(
        store
            .find_post_by_external_id(scope, "row-18")
            .await
            .expect("new"),
        Some(p.id)
    );

    store.delete_post(scope, p.id).await.expect("delete");
    assert_eq!(store.get_post(scope, p.id).await.expect("gone"), None);
    assert_eq!(
        store
            .find_post_by_external_id(scope, "row-18")
            .await
            .expect("gone"),
        None
    );
    assert!(
        store
            .list_deliveries_of_post(scope, p.id)
            .await
            .expect("gone")
            .is_empty()
    );
    assert_eq!(
        store.get_delivery(scope, p.id, d.id).await.expect("gone"),
        None
    );
}

pub async fn test_posts_and_deliveries_read_several_at_once(store: DynStore) {
    let (ws, other_ws) = (workspace("Batch"), workspace("Other"));
    let scope = WorkspaceScope::authorized(ws.id);
    let other = WorkspaceScope::authorized(other_ws.id);
    let (a, b) = (AccountId::new(), AccountId::new());
    let when = Some(at(now(), 60));
    let one = post(ws.id, &[a], when, PostStatus::Scheduled);
    let two = post(ws.id, &[a, b], when, PostStatus::Scheduled);
    let theirs = post(other_ws.id, &[a], when, PostStatus::Scheduled);
    let d_one = delivery(&one, a, at(now(), 60));
    let mut d_two = vec![
        delivery(&two, a, at(now(), 60)),
        delivery(&two, b, at(now(), 60)),
    ];
    d_two.sort_by_key(|d| d.id);
    let d_theirs = delivery(&theirs, a, at(now(), 60));
    for (s, p, ds) in [
        (scope, &one, vec![d_one.clone()]),
        (scope, &two, d_two.clone()),
        (other, &theirs, vec![d_theirs.clone()]),
    ] {
        store.create_post(s, p, &ds).await.expect("create");
    }
    let missing = PostId::new();

    let posts = store
        .get_posts(scope, &[two.id, missing, theirs.id, one.id])
        .await
        .expect("posts");
    assert_eq!(
        posts,
        vec![Some(two.clone()), None, None, Some(one.clone())],
        "one answer per id, in order; another workspace's post reads as missing"
    );
    let mut deliveries = store
        .list_deliveries_of_posts(scope, &[one.id, theirs.id, two.id, missing])
        .await
        .expect("deliveries");
    for list in &mut deliveries {
        list.sort_by_key(|d| d.id);
    }
    assert_eq!(
        deliveries,
        vec![vec![d_one.clone()], vec![], d_two.clone(), vec![]]
    );
    let one_by_one = store
        .get_deliveries(
            scope,
            &[
                (two.id, d_two[1].id),
                (theirs.id, d_theirs.id),
                (one.id, d_one.id),
                (two.id, d_one.id),
            ],
        )
        .await
        .expect("deliveries by id");
    assert_eq!(
        one_by_one,
        vec![Some(d_two[1].clone()), None, Some(d_one), None],
        "another workspace's delivery, or a delivery under the wrong post, reads as missing"
    );
    assert!(store.get_posts(scope, &[]).await.expect("none").is_empty());
}

fn refs(ds: &[&Delivery]) -> Vec<DueRef> {
    ds.iter()
        .map(|d| DueRef {
            due_at: d.due_at,
            delivery_id: d.id,
            workspace_id: d.workspace_id,
            account_id: d.account_id,
            post_id: d.post_id,
        })
        .collect()
}

pub async fn test_account_due_in_due_order_across_days(store: DynStore) {
    let ws = workspace("Due");
    let scope = WorkspaceScope::authorized(ws.id);
    let (acct, other) = (AccountId::new(), AccountId::new());
    let t = now();
    let p = post(ws.id, &[acct, other], Some(t), PostStatus::Scheduled);
    // Due times spread over four days, created out of order, plus one for another account.
    let minutes = [3 * 1440 + 5, 30, 1440 + 1, 2 * 1440 + 7, 31, -90];
    let ds: Vec<Delivery> = minutes
        .iter()
        .map(|m| delivery(&p, acct, at(t, *m)))
        .collect();
    let foreign = delivery(&p, other, at(t, 40));
    let mut all = ds.clone();
    all.push(foreign);
    store.create_post(scope, &p, &all).await.expect("create");

    let mut expected: Vec<&Delivery> = ds.iter().collect();
    expected.sort_by_key(|d| (d.due_at, d.id));
    let got = store
        .account_due(scope.account(acct), at(t, -2 * 1440), at(t, 5 * 1440), 100)
        .await
        .expect("due");
    assert_eq!(
        got,
        refs(&expected),
        "every row of the account, in due order across days"
    );

    let window = store
        .account_due(scope.account(acct), at(t, 30), at(t, 2 * 1440 + 7), 100)
        .await
        .expect("due");
    let in_window: Vec<&Delivery> = expected
        .iter()
        .copied()
        .filter(|d| d.due_at >= at(t, 30) && d.due_at < at(t, 2 * 1440 + 7))
        .collect();
    assert_eq!(window, refs(&in_window), "from inclusive, to exclusive");
    let limited = store
        .account_due(scope.account(acct), at(t, -2 * 1440), at(t, 5 * 1440), 2)
        .await
        .expect("due");
    assert_eq!(limited, refs(&expected[..2]));
    let long_range = store
        .account_due(
            scope.account(acct),
            jiff::Timestamp::UNIX_EPOCH,
            at(t, 5 * 1440),
            100,
        )
        .await
        .expect("due");
    assert_eq!(
        long_range,
        refs(&expected),
        "a range from the epoch finds the same rows"
    );
}

pub async fn test_due_in_bucket_pages_in_due_order(store: DynStore) {
    let ws = workspace("Buckets");
    let scope = WorkspaceScope::authorized(ws.id);
    let acct = AccountId::new();
    let hour_start =
        jiff::Timestamp::from_second(hour_bucket(now()) * 3600 + 7200).expect("instant");
    let p = post(ws.id, &[acct], Some(hour_start), PostStatus::Scheduled);
    let ds: Vec<Delivery> = [50, 5, 20, 35, 5, 59]
        .iter()
        .map(|m| delivery(&p, acct, at(hour_start, *m)))
        .collect();
    store.create_post(scope, &p, &ds).await.expect("create");
    let mut expected: Vec<&Delivery> = ds.iter().collect();
    expected.sort_by_key(|d| (d.due_at, d.id));

    let got = walk(2, |page| {
        store.due_in_bucket(shard_of(acct), hour_bucket(hour_start), page)
    })
    .await;
    let ours: Vec<DueRef> = got
        .into_iter()
        .filter(|r| r.workspace_id == ws.id)
        .collect();
    assert_eq!(
        ours,
        refs(&expected),
        "the bucket's rows, in due order, each once"
    );
    let next_hour = store
        .due_in_bucket(
            shard_of(acct),
            hour_bucket(hour_start) + 1,
            PageRequest::first(100),
        )
        .await
        .expect("page");
    assert!(next_hour.items.iter().all(|r| r.workspace_id != ws.id));
}
