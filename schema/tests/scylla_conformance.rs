//! The conformance suite against ScyllaDB, on a fresh keyspace that is dropped afterwards.
//! Runs only when `SOCIALCRM_TEST_SCYLLA=host:port` is set:
//! `SOCIALCRM_TEST_SCYLLA=127.0.0.1:9042 cargo test -p schema --test scylla_conformance -- --ignored`.

#[macro_use]
mod conformance;

use std::time::{Duration, Instant};

use schema::{SCHEMA_VERSION, ScyllaStore, StoreError, StoreUrl};

const SKIPPED: &str =
    "SKIPPED: set SOCIALCRM_TEST_SCYLLA=host:port to run the conformance suite against ScyllaDB";

macro_rules! run_cases {
    ($($case:ident),*) => {
        async fn run_all(store: conformance::DynStore) {
            $(
                eprintln!("scylla conformance: {}", stringify!($case));
                conformance::$case(store.clone()).await;
            )*
        }
    };
}

for_each_case!(run_cases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SOCIALCRM_TEST_SCYLLA"]
async fn test_scylla_passes_the_conformance_suite() {
    let Ok(node) = std::env::var("SOCIALCRM_TEST_SCYLLA") else {
        eprintln!("{SKIPPED}");
        return;
    };
    let keyspace = format!("socialcrm_test_{}", uuid::Uuid::new_v4().simple());
    let url = StoreUrl::parse(&format!("scylla://{node}/{keyspace}")).expect("url");
    let StoreUrl::Scylla { nodes, .. } = &url else {
        unreachable!("parsed a scylla url")
    };

    let not_migrated = ScyllaStore::connect(nodes, &keyspace).await;
    assert!(
        matches!(
            not_migrated,
            Err(StoreError::SchemaVersion { found: 0, .. })
        ),
        "{not_migrated:?}"
    );
    let report = schema::migrate(&url).await.expect("migrate");
    assert_eq!(report.applied, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    let again = schema::migrate(&url).await.expect("migrate again");
    assert!(again.up_to_date(), "{again:?}");

    let store = schema::open_store(&url).await.expect("connect");
    run_all(store).await;

    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_nodes(nodes)
        .build()
        .await
        .expect("session");
    session
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
        .await
        .expect("drop keyspace");
}

#[tokio::test]
async fn test_unreachable_cluster_is_unavailable() {
    // Port 1 on loopback refuses connections at once.
    let started = Instant::now();
    let r = ScyllaStore::connect(&["127.0.0.1:1".to_owned()], "socialcrm").await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
}
