//! Behaviour only the embedded store has: opening files, migrations, sweeping emulated TTLs,
//! group commit, compaction.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use schema::{
    IdempotencyClaim, IdempotencyStore, MetaStore, RedbStore, SCHEMA_VERSION, SessionStore,
    StoreError, StoreUrl, UserStore,
};
use tenants::{Provider, Session, User, UserId};

fn user(i: usize) -> User {
    User {
        id: UserId::new(),
        provider: Provider::X,
        subject: format!("subject-{i}"),
        email: None,
        name: format!("user {i}"),
        avatar_url: None,
        created_at: Timestamp::UNIX_EPOCH,
        birth_date_declared: None,
        marketing_consent: false,
        marketing_consent_at: None,
        instance_admin: false,
        deletion_requested_at: None,
    }
}

#[tokio::test]
async fn test_open_creates_directories_and_migrate_reports_versions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/data/socialcrm.redb");
    let store = RedbStore::open(&path).expect("open");
    assert!(path.exists());
    assert_eq!(store.schema_version().await.expect("version"), 0);
    let first = store.migrate().await.expect("migrate");
    assert_eq!(first.applied, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    assert_eq!(first.version, SCHEMA_VERSION);
    let again = store.migrate().await.expect("migrate again");
    assert!(again.up_to_date());
    assert_eq!(again.version, SCHEMA_VERSION);
}

#[tokio::test]
async fn test_data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let store = RedbStore::open(&path).expect("open");
    store.migrate().await.expect("migrate");
    let u = user(1);
    store.put_user(&u).await.expect("put");
    store.close().await;

    let reopened = RedbStore::open(&path).expect("reopen");
    assert_eq!(
        reopened.schema_version().await.expect("version"),
        SCHEMA_VERSION
    );
    assert_eq!(reopened.get_user(u.id).await.expect("get"), Some(u));
}

#[tokio::test]
async fn test_file_open_elsewhere_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let _held = RedbStore::open(&path).expect("open");
    let second = RedbStore::open(&path);
    assert!(
        matches!(second, Err(StoreError::Unavailable(_))),
        "{second:?}"
    );
}

#[test]
fn test_garbage_file_is_reported_corrupt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("not-a-store.redb");
    std::fs::write(&path, vec![0x5a; 8192]).expect("write garbage");
    let r = RedbStore::open(&path);
    assert!(
        matches!(&r, Err(StoreError::Corrupt(m)) if m.contains("not-a-store.redb")),
        "{r:?}"
    );
}

#[test]
fn test_unwritable_path_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let r = RedbStore::open(file.join("sub/store.redb"));
    assert!(
        matches!(&r, Err(StoreError::Unavailable(m)) if m.contains("cannot create directory")),
        "{r:?}"
    );
}

#[tokio::test]
async fn test_unmigrated_store_refuses_reads_and_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path().join("s.redb")).expect("open");
    let read = store.get_user(UserId::new()).await;
    assert!(
        matches!(
            read,
            Err(StoreError::SchemaVersion {
                found: 0,
                expected: SCHEMA_VERSION
            })
        ),
        "{read:?}"
    );
    let write = store.put_user(&user(1)).await;
    assert!(
        matches!(write, Err(StoreError::SchemaVersion { found: 0, .. })),
        "{write:?}"
    );
}

#[tokio::test]
async fn test_open_store_migrates_the_embedded_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url =
        StoreUrl::parse(&format!("redb://{}", dir.path().join("d/s.redb").display())).expect("url");
    let store = schema::open_store(&url).await.expect("open");
    assert_eq!(
        store.schema_version().await.expect("version"),
        SCHEMA_VERSION
    );
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn test_sweep_removes_expired_rows_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path().join("s.redb")).expect("open");
    store.migrate().await.expect("migrate");
    let t = Timestamp::from_second(1_800_000_000).expect("instant");
    let expires = t + SignedDuration::from_mins(5);
    store
        .claim_idempotency("gone", "fp", expires, t)
        .await
        .expect("claim");
    store
        .claim_idempotency("kept", "fp", t + SignedDuration::from_hours(5), t)
        .await
        .expect("claim");
    let session = Session {
        id_hash: "h".repeat(64),
        user_id: UserId::new(),
        csrf_hash: "c".repeat(64),
        created_at: t,
        expires_at: expires,
        ip: None,
        user_agent: None,
    };
    store.put_session(&session).await.expect("session");

    let later = t + SignedDuration::from_hours(1);
    // The idempotency row, the session and its per-user index row.
    assert_eq!(store.sweep_expired(later).await.expect("sweep"), 3);
    assert_eq!(store.sweep_expired(later).await.expect("sweep again"), 0);
    let kept = store
        .claim_idempotency("kept", "other", later, later)
        .await
        .expect("claim");
    assert!(matches!(kept, IdempotencyClaim::Existing(r) if r.fingerprint == "fp"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_concurrent_writes_share_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(RedbStore::open(dir.path().join("s.redb")).expect("open"));
    store.migrate().await.expect("migrate");
    let before = store.write_stats();
    let users: Vec<User> = (0..300).map(user).collect();
    let tasks: Vec<_> = users
        .iter()
        .cloned()
        .map(|u| {
            let store = store.clone();
            tokio::spawn(async move { store.put_user(&u).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("put");
    }
    let after = store.write_stats();
    assert_eq!(after.num_ops - before.num_ops, 300);
    assert!(
        after.num_batches - before.num_batches < 300,
        "group commit batched nothing: {after:?}"
    );
    for u in &users {
        assert_eq!(store.get_user(u.id).await.expect("get").as_ref(), Some(u));
    }
}

#[tokio::test]
async fn test_compact_reclaims_deleted_space() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let store = RedbStore::open(&path).expect("open");
    store.migrate().await.expect("migrate");
    let t = Timestamp::from_second(1_800_000_000).expect("instant");
    for i in 0..200 {
        let key = format!("bulk-{i}");
        store
            .claim_idempotency(
                &key,
                &"x".repeat(20_000),
                t,
                t - SignedDuration::from_hours(1),
            )
            .await
            .expect("claim");
    }
    let full = std::fs::metadata(&path).expect("size").len();
    assert_eq!(store.sweep_expired(t).await.expect("sweep"), 200);
    store.compact().await.expect("compact");
    let compacted = std::fs::metadata(&path).expect("size").len();
    assert!(
        compacted < full,
        "compaction should shrink {full} bytes, got {compacted}"
    );
}

#[tokio::test]
async fn test_inspect_reads_the_version_without_creating_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let url = StoreUrl::parse(&format!("redb://{}", path.display())).expect("url");
    let missing = schema::inspect(&url).await.expect("inspect");
    assert_eq!((missing.version, missing.latest), (0, SCHEMA_VERSION));
    assert!(!path.exists(), "inspect must not create the file");
    schema::migrate(&url).await.expect("migrate");
    assert_eq!(
        schema::inspect(&url).await.expect("inspect").version,
        SCHEMA_VERSION
    );
    std::fs::write(&path, vec![1u8; 4096]).expect("damage");
    assert!(matches!(
        schema::inspect(&url).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn test_compact_command_reports_reclaimed_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let url = StoreUrl::parse(&format!("redb://{}", path.display())).expect("url");
    let store = RedbStore::open(&path).expect("open");
    store.migrate().await.expect("migrate");
    let t = Timestamp::from_second(1_800_000_000).expect("instant");
    for i in 0..100 {
        store
            .claim_idempotency(&format!("k{i}"), &"y".repeat(20_000), t, t)
            .await
            .expect("claim");
    }
    store.sweep_expired(t).await.expect("sweep");
    store.close().await;
    let report = schema::compact(&url).await.expect("compact");
    let schema::CompactReport::Embedded {
        before_bytes,
        after_bytes,
        ..
    } = report.clone()
    else {
        panic!("expected an embedded report, got {report:?}");
    };
    assert!(after_bytes < before_bytes, "{report}");
    assert!(report.to_string().contains("reclaimed"));
    let cluster = StoreUrl::parse("scylla://127.0.0.1:1/ks").expect("url");
    assert_eq!(
        schema::compact(&cluster).await.expect("no-op"),
        schema::CompactReport::Cluster
    );
}
