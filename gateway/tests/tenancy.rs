//! The tenancy matrix: workspace B's key replays every id-bearing route against workspace A's
//! ids. Each answer is a 404 byte-for-byte identical to the one for a random id, and A's data
//! reads the same afterwards.

mod common;
mod e2e_support;

use common::{AppOptions, TestApp, spawn_app_with};
use e2e_support::{Answer, call, connect, png, tenant_key, upload, workspace};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tenants::{AccountId, MediaId, PostId, UserId, WorkspaceId};

/// A's ids, or random ones of the same kinds.
struct Ids {
    ws: String,
    post: String,
    account: String,
    media: String,
    member: String,
}

impl Ids {
    fn random() -> Self {
        Self {
            ws: WorkspaceId::new().to_string(),
            post: PostId::new().to_string(),
            account: AccountId::new().to_string(),
            media: MediaId::new().to_string(),
            member: UserId::new().to_string(),
        }
    }
}

/// Every id-bearing route with a body where it takes one.
fn routes(ids: &Ids, ws: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let p = format!("/v1/workspaces/{ws}");
    let post = format!("{p}/posts/{}", ids.post);
    let account = format!("{p}/accounts/{}", ids.account);
    let media = format!("{p}/media/{}", ids.media);
    let member = format!("{p}/members/{}", ids.member);
    vec![
        ("GET", p.clone(), None),
        ("PATCH", p.clone(), Some(json!({"name": "taken over"}))),
        ("GET", format!("{p}/members"), None),
        (
            "POST",
            format!("{p}/members"),
            Some(json!({"user_id": ids.member, "role": "owner"})),
        ),
        ("PATCH", member.clone(), Some(json!({"role": "viewer"}))),
        ("DELETE", member, None),
        ("GET", format!("{p}/accounts"), None),
        (
            "POST",
            format!("{p}/accounts/connect"),
            Some(json!({"platform": "x"})),
        ),
        ("GET", account.clone(), None),
        ("DELETE", account, None),
        ("GET", format!("{p}/posts"), None),
        (
            "POST",
            format!("{p}/posts"),
            Some(json!({"caption": "hijack", "account_ids": [ids.account]})),
        ),
        ("GET", post.clone(), None),
        ("PATCH", post.clone(), Some(json!({"caption": "hijacked"}))),
        ("POST", format!("{post}/publish"), None),
        ("POST", format!("{post}/cancel"), None),
        ("DELETE", post, None),
        ("GET", format!("{p}/media"), None),
        ("GET", media.clone(), None),
        ("GET", format!("{media}/content"), None),
        ("DELETE", media, None),
    ]
}

async fn snapshot(app: &TestApp, key: &str, a: &Ids) -> Vec<Value> {
    let p = format!("/v1/workspaces/{}", a.ws);
    let mut out = Vec::new();
    for path in [
        p.clone(),
        format!("{p}/members"),
        format!("{p}/accounts"),
        format!("{p}/posts/{}", a.post),
        format!("{p}/posts"),
        format!("{p}/media/{}", a.media),
    ] {
        out.push(call(app, "GET", &path, key, None).await.expect(200));
    }
    out
}

fn same(left: &Answer, right: &Answer, what: &str) {
    assert_eq!(left.status, right.status, "{what}");
    assert_eq!(left.body, right.body, "{what}: bodies differ");
    assert_eq!(left.content_type, right.content_type, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_another_workspace_ids_look_exactly_like_random_ids() {
    let app = spawn_app_with(AppOptions::default()).await;
    let key_a = tenant_key(&app).await;
    let key_b = tenant_key(&app).await;
    let ws_a = workspace(&app, &key_a, "A").await;
    let ws_b = workspace(&app, &key_b, "B").await;
    let account = connect(&app, &key_a, &ws_a, "linkedin").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let media = upload(&app, &key_a, &ws_a, "image/png", png(64))
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let due = Timestamp::now() + SignedDuration::from_hours(6);
    let body = json!({"caption": "A's", "account_ids": [account], "scheduled_at": due.to_string(), "media_ids": [media]});
    let post = call(
        &app,
        "POST",
        &format!("/v1/workspaces/{ws_a}/posts"),
        &key_a,
        Some(body),
    )
    .await
    .expect(201);
    let members = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws_a}/members"),
        &key_a,
        None,
    )
    .await
    .expect(200);
    let a = Ids {
        ws: ws_a.clone(),
        post: post["id"].as_str().expect("id").to_owned(),
        account,
        media,
        member: members["items"][0]["user_id"]
            .as_str()
            .expect("member")
            .to_owned(),
    };
    let before = snapshot(&app, &key_a, &a).await;

    let random = Ids::random();
    // A's ids under A's workspace, and under B's own workspace.
    for ws_of_path in [
        (a.ws.clone(), random.ws.clone()),
        (ws_b.clone(), ws_b.clone()),
    ] {
        let theirs = routes(&a, &ws_of_path.0);
        let made_up = routes(&random, &ws_of_path.1);
        for ((method, path, body), (_, random_path, random_body)) in theirs.into_iter().zip(made_up)
        {
            let mine = ws_of_path.0 == ws_b;
            let text = format!(
                "{path} {}",
                body.as_ref().map(Value::to_string).unwrap_or_default()
            );
            let names_a = [&a.post, &a.account, &a.media, &a.member]
                .iter()
                .any(|id| text.contains(id.as_str()));
            if mine && !names_a {
                continue; // B's own workspace routes that name nothing of A's are B's business
            }
            let answer = call(&app, method, &path, &key_b, body).await;
            let baseline = call(&app, method, &random_path, &key_b, random_body).await;
            let what = format!("{method} {path}");
            assert!(
                matches!(answer.status, 404 | 422 | 403),
                "{what}: {}",
                answer.status
            );
            if !mine {
                answer.problem(404);
            }
            same(&answer, &baseline, &what);
        }
    }
    let after = snapshot(&app, &key_a, &a).await;
    assert_eq!(before, after, "nothing of A changed");
    let b_posts = call(
        &app,
        "GET",
        &format!("/v1/workspaces/{ws_b}/posts"),
        &key_b,
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        b_posts["items"],
        json!([]),
        "B could not post to A's account"
    );
    assert!(app.sandbox.ledger().is_empty());
    app.shutdown().await;
}
