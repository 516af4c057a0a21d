//! The OpenAPI document describes every route, and the docs page is served from the binary.

mod common;

use common::{request, send, test_state};

/// The core routes, which must all be documented (handler groups added later document theirs
/// too; every documented operation is checked to be routed).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/auth/{provider}/start"),
    ("get", "/auth/{provider}/callback"),
    ("post", "/auth/logout"),
    ("get", "/v1/me"),
    ("patch", "/v1/me"),
    ("post", "/v1/me/age"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{id}"),
    ("post", "/v1/workspaces"),
    ("get", "/v1/workspaces"),
    ("get", "/v1/workspaces/{ws}"),
    ("patch", "/v1/workspaces/{ws}"),
    ("get", "/v1/workspaces/{ws}/members"),
    ("post", "/v1/workspaces/{ws}/members"),
    ("patch", "/v1/workspaces/{ws}/members/{user_id}"),
    ("delete", "/v1/workspaces/{ws}/members/{user_id}"),
];

/// `path` with every `{param}` replaced by a valid id (or `google` for the provider).
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |i| open + i);
        let name = &rest[open + 1..close];
        out.push_str(if name == "provider" {
            "google"
        } else {
            "0190b2a4-0000-7000-8000-000000000000"
        });
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn test_openapi_is_3_1_and_lists_every_route() {
    let t = test_state().await;
    let reply = send(&t.state, request("GET", "/openapi.json", None, None)).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for (method, path) in ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the document"
        );
    }
    // Every documented operation is really routed (no 405, no router-level 404).
    let paths = doc["paths"].as_object().expect("paths");
    for (path, operations) in paths {
        for method in operations.as_object().expect("operations").keys() {
            let served = send(
                &t.state,
                request(&method.to_uppercase(), &concrete(path), None, None),
            )
            .await;
            assert_ne!(
                served.status, 405,
                "{method} {path} is documented but not routed"
            );
            if served.status == 404 {
                let body = served.json();
                assert_ne!(
                    body["detail"], "no route matches this path",
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn test_docs_page_is_served_offline() {
    let t = test_state().await;
    let index = send(&t.state, request("GET", "/docs/", None, None)).await;
    assert_eq!(index.status, 200);
    assert!(
        index
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/html"))
    );
    assert!(String::from_utf8_lossy(&index.body).contains("swagger-ui"));
    let config = send(
        &t.state,
        request("GET", "/docs/swagger-initializer.js", None, None),
    )
    .await;
    assert_eq!(config.status, 200);
    assert!(String::from_utf8_lossy(&config.body).contains("/openapi.json"));
    let bundle = send(
        &t.state,
        request("GET", "/docs/swagger-ui-bundle.js", None, None),
    )
    .await;
    assert_eq!(bundle.status, 200);
    assert!(
        bundle.body.len() > 100_000,
        "the UI bundle is compiled into the binary"
    );
}

#[tokio::test]
async fn test_health_readiness_and_metrics() {
    let t = test_state().await;
    assert_eq!(
        send(&t.state, request("GET", "/healthz", None, None))
            .await
            .json()["status"],
        "ok"
    );
    let ready = send(&t.state, request("GET", "/readyz", None, None)).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["store"], "ok");
    assert_eq!(ready.json()["engine"], "absent");
    send(&t.state, request("GET", "/v1/workspaces", None, None)).await;
    let metrics = send(&t.state, request("GET", "/metrics", None, None)).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(
            r#"socialcrm_http_requests_total{method="GET",route="/v1/workspaces",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"socialcrm_http_request_duration_seconds_count{route="/healthz"} 1"#),
        "{text}"
    );
    assert!(text.contains("socialcrm_engine_attached 0"));
}
