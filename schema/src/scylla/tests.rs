//! Driver errors as they come off the wire, forged by a dry-mode `scylla-proxy` on loopback
//! (no ScyllaDB needed), and the store errors they become.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Statement;
use scylla_proxy::{
    Condition, Node, Proxy, Reaction, RequestFrame, RequestOpcode, RequestReaction, RequestRule,
    ResponseFrame, RunningProxy,
};

use super::errors;
use crate::error::StoreError;

fn query_containing(text: &str) -> Condition {
    Condition::and(
        Condition::RequestOpcode(RequestOpcode::Query),
        Condition::BodyContainsCaseSensitive(text.as_bytes().into()),
    )
}

/// A proxy that completes every handshake, forges one error per marker word in a query, and
/// answers everything else with a server error.
async fn forging_proxy() -> (RunningProxy, Session) {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let rules = vec![
        RequestRule(
            Condition::RequestOpcode(RequestOpcode::Options),
            RequestReaction::forge_response(Arc::new(|f: RequestFrame| {
                ResponseFrame::forged_supported(f.params, &HashMap::default())
                    .expect("supported frame")
            })),
        ),
        RequestRule(
            Condition::or(
                Condition::RequestOpcode(RequestOpcode::Startup),
                Condition::RequestOpcode(RequestOpcode::Register),
            ),
            RequestReaction::forge_response(Arc::new(|f: RequestFrame| {
                ResponseFrame::forged_ready(f.params)
            })),
        ),
        RequestRule(
            query_containing("marker_write_timeout"),
            RequestReaction::forge().write_timeout(),
        ),
        RequestRule(
            query_containing("marker_read_timeout"),
            RequestReaction::forge().read_timeout(),
        ),
        RequestRule(
            query_containing("marker_overloaded"),
            RequestReaction::forge().overloaded(),
        ),
        RequestRule(
            query_containing("marker_unavailable"),
            RequestReaction::forge().unavailable(),
        ),
        RequestRule(
            query_containing("marker_silence"),
            RequestReaction::drop_frame(),
        ),
        RequestRule(
            query_containing("marker_hang_up"),
            RequestReaction::drop_connection(),
        ),
        RequestRule(Condition::True, RequestReaction::forge().server_error()),
    ];
    let proxy = Proxy::builder()
        .with_node(
            Node::builder()
                .proxy_address(addr)
                .request_rules(rules)
                .build_dry_mode(),
        )
        .build()
        .run()
        .await
        .expect("proxy runs");
    let session = SessionBuilder::new()
        .known_node_addr(addr)
        .build()
        .await
        .expect("session through the proxy");
    (proxy, session)
}

async fn mapped(session: &Session, marker: &str) -> StoreError {
    let mut st = Statement::new(format!("INSERT INTO t (k) VALUES ('{marker}')"));
    st.set_request_timeout(Some(Duration::from_millis(500)));
    match session.query_unpaged(st, ()).await {
        Ok(_) => panic!("{marker}: the proxy should have failed the request"),
        Err(e) => errors::execution(e),
    }
}

#[tokio::test]
async fn test_forged_wire_errors_map_to_store_errors() {
    let (proxy, session) = forging_proxy().await;
    let e = mapped(&session, "marker_write_timeout").await;
    assert!(matches!(e, StoreError::Timeout(_)), "write timeout: {e:?}");
    let e = mapped(&session, "marker_read_timeout").await;
    assert!(matches!(e, StoreError::Timeout(_)), "read timeout: {e:?}");
    let e = mapped(&session, "marker_overloaded").await;
    assert!(matches!(e, StoreError::Overloaded(_)), "overloaded: {e:?}");
    let e = mapped(&session, "marker_unavailable").await;
    assert!(
        matches!(e, StoreError::Unavailable(_)),
        "unavailable: {e:?}"
    );
    let e = mapped(&session, "marker_silence").await;
    assert!(matches!(e, StoreError::Timeout(_)), "client timeout: {e:?}");
    let e = mapped(&session, "marker_other").await;
    assert!(matches!(e, StoreError::Backend(_)), "server error: {e:?}");
    let e = mapped(&session, "marker_hang_up").await;
    assert!(
        matches!(e, StoreError::Unavailable(_)),
        "broken connection: {e:?}"
    );
    drop(session);
    let _ = proxy.finish().await;
}
