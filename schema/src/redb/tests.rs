//! Writer behaviour that needs the crate's internals: a failing op in a batch.

use std::sync::mpsc as std_mpsc;

use super::RedbStore;
use super::access::Lookup;
use super::writer::{Outcome, Plan};
use crate::error::StoreError;

const TABLE: &str = super::tables::IDEMPOTENCY;

fn put(key: &'static [u8]) -> Plan {
    Box::new(move |tx| {
        tx.put(TABLE, key.to_vec(), b"{}".to_vec());
        Ok(Outcome::Done)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_failed_op_leaves_no_trace_and_does_not_poison_its_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path().join("s.redb")).expect("open");
    store.migrate().await.expect("migrate");

    // Hold the writer inside a first batch until the next two ops are queued behind it.
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let gate: Plan = Box::new(move |_| {
        let _ = entered_tx.send(());
        release_rx
            .recv()
            .map_err(|_| StoreError::Backend("gate dropped".into()))?;
        Ok(Outcome::Done)
    });
    let before = store.write_stats();
    let (s0, s1, s2) = (store.clone(), store.clone(), store.clone());
    let gate_task = tokio::spawn(async move { s0.write(gate).await });
    entered_rx.await.expect("the writer runs the gate");
    let failing: Plan = Box::new(|tx| {
        tx.put(TABLE, b"failed".to_vec(), b"{}".to_vec());
        Err(StoreError::Backend("validation failed".into()))
    });
    let fail_task = tokio::spawn(async move { s1.write(failing).await });
    let ok_task = tokio::spawn(async move { s2.write(put(b"kept")).await });
    // Wait (with a deadline) until both ops sit in the writer's queue behind the gate.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.write_stats().num_queued < 2 {
        assert!(std::time::Instant::now() < deadline, "ops never queued");
        tokio::task::yield_now().await;
    }
    release_tx.send(()).expect("release");

    gate_task.await.expect("join").expect("gate");
    let failed = fail_task.await.expect("join");
    assert!(
        matches!(failed, Err(StoreError::Backend(ref m)) if m == "validation failed"),
        "{failed:?}"
    );
    ok_task.await.expect("join").expect("the other op commits");

    let after = store.write_stats();
    assert_eq!(
        after.num_batches - before.num_batches,
        2,
        "gate alone, then both ops together: {before:?} {after:?}"
    );
    assert_eq!(
        after.num_ops - before.num_ops,
        2,
        "the failed op is not counted"
    );
    let (kept, failed) = store
        .read(|r| Ok((r.get(TABLE, b"kept")?, r.get(TABLE, b"failed")?)))
        .await
        .expect("read");
    assert!(kept.is_some());
    assert!(failed.is_none(), "a failed op's writes are discarded");
}
