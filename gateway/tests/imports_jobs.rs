//! Large imports as jobs (202, progress, then completed) and the byte limit (413 declared up
//! front and mid-stream), on a second gateway with small import limits.

mod common;
mod e2e_support;
mod imports_support;

use imports_support::{HEADER, Tuned, upload_to, world};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_large_import_runs_as_a_job_with_progress_then_completes() {
    let w = world().await;
    let tuned = Tuned::start(&w.app, |l| l.sync_max_bytes = 1024).await;
    let mut csv = format!("{HEADER}\n");
    for i in 0..1_200 {
        csv.push_str(&w.row(2 + i % 20, &format!("Post {i}"), &format!("job-{i}")));
        csv.push('\n');
    }
    let answer = upload_to(&tuned.base_url, &w.key, &w.ws, "?mode=valid_rows", csv).await;
    let accepted = answer.expect(202);
    assert_eq!(accepted["status"], "pending");
    assert_eq!(accepted["rows_processed"], 0);
    let id = accepted["id"].as_str().expect("id").to_owned();

    let seen = w
        .poll(&tuned.base_url, &id, |d| {
            d["status"] == "completed" || d["status"] == "failed"
        })
        .await;
    let done = seen.last().expect("final");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["rows_processed"], 1_200);
    assert_eq!(done["posts_created"], 1_200);
    let processed: Vec<u64> = seen
        .iter()
        .filter_map(|d| d["rows_processed"].as_u64())
        .collect();
    assert!(
        processed.windows(2).all(|p| p[0] <= p[1]),
        "progress never goes back: {processed:?}"
    );
    let listed = e2e_support::call(&w.app, "GET", &w.imports(), &w.key, None)
        .await
        .expect(200);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    tuned.shutdown().await;
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_upload_declared_over_the_limit_is_refused_up_front() {
    let w = world().await;
    let tuned = Tuned::start(&w.app, |l| l.max_bytes = 2_048).await;
    let csv = format!("{HEADER}\n{}\n", w.row(2, &"y".repeat(4_000), "big-1"));
    let problem = upload_to(&tuned.base_url, &w.key, &w.ws, "", csv)
        .await
        .problem(413);
    assert_eq!(problem["status"], 413);
    assert!(w.posts().await.is_empty());
    tuned.shutdown().await;
    w.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_chunked_upload_past_the_limit_is_refused_mid_stream() {
    let w = world().await;
    let tuned = Tuned::start(&w.app, |l| l.max_bytes = 2_048).await;
    let addr = tuned.base_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/workspaces/{}/imports HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        w.ws, w.key
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let row = format!("{}\n", w.row(2, "chunk", ""));
    let mut body = format!("{HEADER}\n");
    while body.len() < 8_192 {
        body.push_str(&row);
    }
    // The server may answer and close before the whole body is sent; the answer is what counts.
    for chunk in body.as_bytes().chunks(1_000) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut reply),
    )
    .await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(w.posts().await.is_empty());
    tuned.shutdown().await;
    w.app.shutdown().await;
}
