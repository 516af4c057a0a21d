//! The baseline: a bare axum server answering every request with a fixed JSON body. Measuring it
//! with the same generator shows how much of the gateway's latency is the product's own work.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Json;
use axum::Router;
use axum::routing::any;
use serde_json::json;

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(listen: SocketAddr, addr_file: Option<PathBuf>) -> anyhow::Result<()> {
    anyhow::ensure!(
        listen.ip().is_loopback(),
        "the baseline server only listens on loopback"
    );
    let app = Router::new().fallback(any(|| async {
        Json(json!({"id": "0190c1e2-0000-7000-8000-000000000000", "status": "scheduled", "deliveries": []}))
    }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("baseline listening on http://{addr}");
    if let Some(path) = addr_file {
        std::fs::write(path, format!("http://{addr}"))?;
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
