//! The secrets scan: the whole journey of a customer runs with every log line of the process
//! captured at TRACE (engine, gateway, sandbox, store and every library), then no secret the
//! sandbox ever issued (authorization codes, access, refresh and ID tokens), nor the client
//! secret, the partner API key, an API key or the session id, may appear in any log line, any
//! response body, any error, the export archive, or in clear in the store file.

mod common;
mod leak_support;

use std::io::Read;
use std::time::Duration;

use jiff::SignedDuration;
use leak_support::{Browser, LeakApp, capture_logs, find_leaks, log_lines};
use sandbox::Faults;
use serde_json::{Value, json};

/// Ticks the engine (advancing the clock by `step` first) until `path` shows every delivery
/// published, for at most 20 s.
async fn publish_and_wait(app: &LeakApp, b: &Browser, path: &str, step: SignedDuration) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        app.clock.advance(step);
        app.engine.handle().tick().await.expect("tick");
        let post = b.send("GET", path, None, None).await.expect(200);
        let deliveries = post["deliveries"].as_array().cloned().unwrap_or_default();
        if !deliveries.is_empty() && deliveries.iter().all(|d| d["status"] == "published") {
            return post;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not published in time: {post}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a post publishing now to `account` and returns its URL.
async fn post_now(app: &LeakApp, b: &Browser, ws: &str, account: &Value, caption: &str) -> String {
    let created = b
        .send(
            "POST",
            &format!("{}/v1/workspaces/{ws}/posts", app.base_url),
            Some(
                json!({"caption": caption, "account_ids": [account["id"]], "status": "scheduled"}),
            ),
            None,
        )
        .await
        .expect(201);
    format!(
        "{}/v1/workspaces/{ws}/posts/{}",
        app.base_url,
        created["id"].as_str().expect("post id")
    )
}

/// Signs in with Google through the sandbox; returns the session id.
async fn sign_in(app: &LeakApp, b: &mut Browser, hop: &Browser) -> String {
    let start = b
        .send(
            "GET",
            &format!("{}/auth/google/start", app.base_url),
            None,
            None,
        )
        .await;
    assert_eq!(start.status, 303);
    let pending = start.cookie("scrm_signin").expect("pending sign-in cookie");
    let approved = hop
        .send("GET", &start.location.expect("authorize url"), None, None)
        .await;
    let callback = approved.location.expect("callback url");
    let done = b
        .send(
            "GET",
            &callback,
            None,
            Some(format!("scrm_signin={pending}")),
        )
        .await;
    assert_eq!(done.status, 303, "{}", String::from_utf8_lossy(&done.body));
    let session = done.cookie("scrm_session").expect("session cookie");
    let csrf = done.cookie("csrf").expect("csrf cookie");
    b.cookie = Some(format!("scrm_session={session}; csrf={csrf}"));
    b.csrf = Some(csrf);
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_no_secret_reaches_a_log_a_response_an_error_an_export_or_the_store_file() {
    capture_logs();
    let app = LeakApp::spawn().await;
    let base = app.base_url.clone();
    let mut b = Browser::default();
    let hop = Browser::default();

    // Sign in, declare an age, create a workspace.
    let session = sign_in(&app, &mut b, &hop).await;
    b.send(
        "POST",
        &format!("{base}/v1/me/age"),
        Some(json!({"birth_date": "1990-04-21"})),
        None,
    )
    .await
    .expect(200);
    let ws = b
        .send(
            "POST",
            &format!("{base}/v1/workspaces"),
            Some(json!({"name": "Leak", "timezone": "UTC"})),
            None,
        )
        .await
        .expect(201);
    let ws = ws["id"].as_str().expect("workspace id").to_owned();

    // Connect an X account through the sandbox's consent page.
    let started = b
        .send(
            "POST",
            &format!("{base}/v1/workspaces/{ws}/accounts/connect"),
            Some(json!({"platform": "x"})),
            None,
        )
        .await
        .expect(200);
    let consent = hop
        .send(
            "GET",
            started["authorization_url"]
                .as_str()
                .expect("authorization_url"),
            None,
            None,
        )
        .await;
    let account = b
        .send("GET", &consent.location.expect("callback"), None, None)
        .await
        .expect(201);
    assert_eq!(account["status"], "active", "{account}");

    // Publish a post.
    let path = post_now(&app, &b, &ws, &account, "First post").await;
    publish_and_wait(&app, &b, &path, SignedDuration::ZERO).await;

    // The access token expires; the next publish refreshes it (X rotates refresh tokens).
    let refreshes_before = app.sandbox.stats().refreshes;
    app.clock.advance(SignedDuration::from_hours(3));
    let path = post_now(&app, &b, &ws, &account, "After the refresh").await;
    publish_and_wait(&app, &b, &path, SignedDuration::ZERO).await;
    assert!(
        app.sandbox.stats().refreshes > refreshes_before,
        "a refresh with rotation happened"
    );

    // A partner error on the first attempt, then the partner recovers.
    app.sandbox.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let path = post_now(&app, &b, &ws, &account, "Through an error").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.sandbox.stats().injected_errors == 0 {
        app.engine.handle().tick().await.expect("tick");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no partner error was injected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.send("GET", &path, None, None).await.expect(200);
    app.sandbox.set_faults(Faults::default());
    publish_and_wait(&app, &b, &path, SignedDuration::from_mins(1)).await;

    // An API key is used too.
    let keyed = Browser {
        bearer: Some(app.bootstrap_key.clone()),
        ..Browser::default()
    };
    keyed
        .send(
            "GET",
            &format!("{base}/v1/workspaces/{ws}/accounts"),
            None,
            None,
        )
        .await
        .expect(200);

    // Disconnect: revoked at the platform.
    let account_id = account["id"].as_str().expect("account id");
    let gone = b
        .send(
            "DELETE",
            &format!("{base}/v1/workspaces/{ws}/accounts/{account_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{}", String::from_utf8_lossy(&gone.body));
    assert!(
        app.sandbox.stats().revokes >= 1,
        "the token was revoked at the platform"
    );

    // Export the workspace.
    let job = b
        .send(
            "POST",
            &format!("{base}/v1/workspaces/{ws}/export"),
            None,
            None,
        )
        .await
        .expect(202);
    let job_url = format!(
        "{base}/v1/workspaces/{ws}/exports/{}",
        job["id"].as_str().expect("id")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let job = loop {
        let job = b.send("GET", &job_url, None, None).await.expect(200);
        if job["status"] != "pending" {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "export still pending"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(job["status"], "ready", "{job}");
    let zip = b
        .send(
            "GET",
            &format!("{base}{}", job["download_url"].as_str().expect("url")),
            None,
            None,
        )
        .await;
    assert_eq!(zip.status, 200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.body.clone())).expect("zip");
    let mut haystacks = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).expect("entry");
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).expect("read entry");
        haystacks.push((
            format!("export file {}", file.name()),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    assert!(
        haystacks.len() >= 3,
        "the archive holds the workspace's files"
    );

    // Every secret the sandbox issued, plus the configured ones and the caller's credentials.
    let issued: Value = hop
        .send(
            "GET",
            &format!("{}/_sandbox/issued-secrets", app.sandbox.base_url()),
            None,
            None,
        )
        .await
        .expect(200);
    hop.seen.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut secrets: Vec<String> = issued["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    // Google: code, access token, ID token; X: code, access + refresh, then two refreshes.
    assert!(
        secrets.len() >= 8,
        "the sandbox issued the journey's secrets: {}",
        secrets.len()
    );
    secrets.extend([
        common::CLIENT_SECRET.to_owned(),
        sandbox::SandboxConfig::default().outstand_api_key,
        "test-cookie-secret".to_owned(),
        app.bootstrap_key.clone(),
        session,
    ]);

    // The scanner finds a secret wherever it is: the scan can fail.
    for secret in &secrets {
        let control = vec![(
            "control".to_owned(),
            format!("INFO something happened token={secret} end"),
        )];
        assert_eq!(
            find_leaks(std::slice::from_ref(secret), &control).len(),
            1,
            "the scanner is blind"
        );
    }

    let dir = app.shutdown().await;
    let logs = log_lines();
    for target in [
        "engine::",
        "gateway::",
        "sandbox",
        "TRACE",
        "post.published",
        "account.connected",
    ] {
        assert!(
            logs.iter().any(|l| l.contains(target)),
            "no log line mentions {target}"
        );
    }
    haystacks.extend(
        logs.into_iter()
            .enumerate()
            .map(|(i, l)| (format!("log line {i}"), l)),
    );
    haystacks.extend(b.seen());
    haystacks.extend(hop.seen());
    haystacks.extend(keyed.seen());
    let store = std::fs::read(dir.path().join("socialcrm.redb")).expect("store file");
    assert!(store.len() > 4096, "the store file was written");
    haystacks.push((
        "store file".to_owned(),
        String::from_utf8_lossy(&store).into_owned(),
    ));

    let leaks = find_leaks(&secrets, &haystacks);
    let mut shown: Vec<String> = Vec::new();
    for leak in &leaks {
        let kind = leak.split(" in ...").next().unwrap_or_default();
        let secret = kind.rsplit("starting").next().unwrap_or_default();
        if !shown.iter().any(|s| s.contains(secret)) {
            shown.push(leak.clone());
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks, first ones:\n{}",
        leaks.len(),
        shown.join("\n")
    );
}
