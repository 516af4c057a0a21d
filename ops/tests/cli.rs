//! The `socialcrm` binary as an operator meets it: `migrate` creates and upgrades the store and is
//! idempotent, bad store URLs and damaged files fail with a clear message and a non-zero exit, and
//! `doctor` says what is wrong.

use std::path::Path;
use std::process::{Command, Output};

fn socialcrm(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_socialcrm"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("SOCIALCRM_LOG_FILTER", "warn")
        .output()
        .expect("the socialcrm binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn test_migrate_creates_the_default_store_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let first = socialcrm(dir.path(), &["migrate"]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(dir.path().join("data/socialcrm.redb").is_file());
    assert!(
        text(&first).contains("migrated to schema version"),
        "{}",
        text(&first)
    );

    let second = socialcrm(dir.path(), &["migrate"]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("up to date"), "{}", text(&second));
}

#[test]
fn test_bad_store_url_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = socialcrm(
        dir.path(),
        &["migrate", "--store", "postgres://localhost/x"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("invalid store url"), "{}", text(&out));
}

#[test]
fn test_corrupt_store_file_is_reported_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.redb");
    std::fs::write(&file, b"this is not a database").unwrap();
    let url = format!("redb://{}", file.display());
    let out = socialcrm(dir.path(), &["migrate", "--store", &url]);
    assert!(!out.status.success());
    assert!(text(&out).contains("corrupt"), "{}", text(&out));
    assert_eq!(std::fs::read(&file).unwrap(), b"this is not a database");
}

#[test]
fn test_unwritable_store_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = socialcrm(
        dir.path(),
        &["migrate", "--store", "redb:///proc/socialcrm/store.redb"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot migrate store"),
        "{}",
        text(&out)
    );
}

#[test]
fn test_doctor_names_the_missing_migration_then_passes() {
    let dir = tempfile::tempdir().unwrap();
    let before = socialcrm(dir.path(), &["doctor"]);
    assert!(!before.status.success());
    assert!(
        text(&before).contains("run `socialcrm migrate`"),
        "{}",
        text(&before)
    );

    assert!(socialcrm(dir.path(), &["migrate"]).status.success());
    let after = socialcrm(dir.path(), &["doctor"]);
    assert!(after.status.success(), "{}", text(&after));
    assert!(text(&after).contains("all checks passed"));
}
