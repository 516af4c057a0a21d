//! The `socialcrm-sandbox` binary: prints its URL, serves, and exits cleanly on SIGTERM.

#![cfg(unix)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn test_binary_prints_its_url_serves_and_stops_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut child = Command::new(env!("CARGO_BIN_EXE_socialcrm-sandbox"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("url printed in time")
        .expect("read")
        .expect("a line");
    assert!(url.starts_with("http://127.0.0.1:"), "unexpected url {url}");

    let ledger: Value = reqwest::get(format!("{url}/_sandbox/ledger"))
        .await
        .expect("ledger")
        .json()
        .await
        .expect("json");
    assert_eq!(ledger["entries"], Value::Array(vec![]));

    let pid = child.id().expect("pid").to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert!(exit.success(), "exit status {exit}");
}
