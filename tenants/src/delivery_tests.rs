use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;

/// The documented transition graph, written independently of [`Delivery::apply`]: the state an
/// event leads to from each state, or `None` when the event is refused.
fn documented(from: DeliveryState, event: &DeliveryEvent) -> Option<DeliveryState> {
    use DeliveryEvent as E;
    use DeliveryState as S;
    let to = match (from, event) {
        (S::Scheduled, E::Submit) => S::Submitting,
        (S::Submitting, E::Accepted { .. }) => S::Submitting,
        (S::Unconfirmed, E::Accepted { .. }) => S::Unconfirmed,
        (S::Submitting | S::Unconfirmed, E::Publish { .. }) => S::Published,
        (S::Scheduled | S::Submitting | S::Unconfirmed | S::Held, E::Fail(_)) => S::Failed,
        (S::Submitting | S::Unconfirmed, E::Unconfirm { .. }) => S::Unconfirmed,
        (S::Submitting | S::Unconfirmed, E::RetryLater { .. }) => S::Scheduled,
        (S::Submitting, E::Withdraw { .. }) => S::Scheduled,
        (S::Scheduled | S::Submitting | S::Held, E::Hold { .. }) => S::Held,
        (S::Held, E::Release { .. }) => S::Scheduled,
        (S::Scheduled | S::Held, E::Reschedule { .. }) => S::Scheduled,
        (S::Scheduled | S::Held, E::Cancel { .. }) => S::Canceled,
        _ => return None,
    };
    Some(to)
}

const STATES: [DeliveryState; 7] = [
    DeliveryState::Scheduled,
    DeliveryState::Submitting,
    DeliveryState::Published,
    DeliveryState::Failed,
    DeliveryState::Unconfirmed,
    DeliveryState::Held,
    DeliveryState::Canceled,
];

fn t0() -> Timestamp {
    "2026-06-01T09:00:00Z".parse().unwrap()
}

fn delivery(state: DeliveryState) -> Delivery {
    Delivery {
        id: DeliveryId::new(),
        workspace_id: WorkspaceId::new(),
        post_id: PostId::new(),
        account_id: AccountId::new(),
        platform: Platform::Linkedin,
        state,
        idempotency_key: "idem-1".into(),
        attempts: 0,
        due_at: t0(),
        partner_post_id: None,
        platform_post_id: None,
        published_at: None,
        last_error: None,
        version: 1,
        updated_at: t0(),
    }
}

fn at() -> impl Strategy<Value = Timestamp> {
    (0i64..30 * 86_400).prop_map(|s| t0() + SignedDuration::from_secs(s))
}

fn error() -> impl Strategy<Value = DeliveryError> {
    ("[a-z_]{1,12}", ".{0,20}").prop_map(|(c, m)| DeliveryError::new(c, m))
}

fn event() -> impl Strategy<Value = DeliveryEvent> {
    prop_oneof![
        Just(DeliveryEvent::Submit),
        "[a-z0-9]{1,8}".prop_map(|id| DeliveryEvent::Accepted {
            partner_post_id: id
        }),
        ("[0-9]{1,8}", at()).prop_map(|(id, published_at)| DeliveryEvent::Publish {
            platform_post_id: id,
            published_at
        }),
        error().prop_map(DeliveryEvent::Fail),
        (error(), at()).prop_map(|(error, check_at)| DeliveryEvent::Unconfirm { error, check_at }),
        (error(), at()).prop_map(|(error, retry_at)| DeliveryEvent::RetryLater { error, retry_at }),
        (error(), at()).prop_map(|(reason, retry_at)| DeliveryEvent::Withdraw { reason, retry_at }),
        (error(), proptest::option::of(at()))
            .prop_map(|(reason, retry_at)| DeliveryEvent::Hold { reason, retry_at }),
        at().prop_map(|due_at| DeliveryEvent::Release { due_at }),
        at().prop_map(|due_at| DeliveryEvent::Reschedule { due_at }),
        error().prop_map(|reason| DeliveryEvent::Cancel { reason }),
    ]
}

proptest! {
    #[test]
    fn prop_random_event_sequences_follow_the_documented_graph(
        start in prop::sample::select(STATES.to_vec()),
        events in prop::collection::vec(event(), 0..40),
    ) {
        let mut current = delivery(start);
        let mut now = t0();
        for event in &events {
            now += SignedDuration::from_secs(1);
            let expected = documented(current.state, event);
            match current.apply(event, now) {
                Ok(next) => {
                    prop_assert!(!current.state.is_terminal(), "terminal state accepted {:?}", event);
                    prop_assert_eq!(Some(next.state), expected, "{:?} from {:?}", event, current.state);
                    prop_assert_eq!(next.version, current.version + 1);
                    let attempts = match event {
                        DeliveryEvent::Submit => current.attempts + 1,
                        DeliveryEvent::Withdraw { .. } => current.attempts.saturating_sub(1),
                        _ => current.attempts,
                    };
                    prop_assert_eq!(next.attempts, attempts);
                    prop_assert_eq!(next.updated_at, now);
                    prop_assert_eq!(&next.idempotency_key, &current.idempotency_key);
                    prop_assert_eq!(next.id, current.id);
                    current = next;
                }
                Err(refused) => {
                    prop_assert_eq!(expected, None, "{:?} refused from {:?}", event, current.state);
                    prop_assert_eq!(refused.from, current.state.as_str());
                    prop_assert_eq!(refused.event, event.name());
                }
            }
        }
    }

    #[test]
    fn prop_terminal_states_refuse_every_event(
        state in prop::sample::select(vec![
            DeliveryState::Published,
            DeliveryState::Failed,
            DeliveryState::Canceled,
        ]),
        event in event(),
    ) {
        let d = delivery(state);
        let err = d.apply(&event, t0()).unwrap_err();
        prop_assert_eq!(
            err.to_string(),
            format!("cannot {} a delivery that is {}", event.name(), state.as_str())
        );
    }
}

#[test]
fn test_publish_records_platform_id_and_clears_error() {
    let d = delivery(DeliveryState::Submitting);
    let d = d
        .apply(
            &DeliveryEvent::Unconfirm {
                error: DeliveryError::new("timeout", "no answer"),
                check_at: t0() + SignedDuration::from_mins(5),
            },
            t0(),
        )
        .unwrap();
    assert_eq!(d.state, DeliveryState::Unconfirmed);
    assert_eq!(d.due_at, t0() + SignedDuration::from_mins(5));
    let published_at = t0() + SignedDuration::from_mins(6);
    let d = d
        .apply(
            &DeliveryEvent::Publish {
                platform_post_id: "urn:li:share:1".into(),
                published_at,
            },
            published_at,
        )
        .unwrap();
    assert_eq!(d.state, DeliveryState::Published);
    assert_eq!(d.platform_post_id.as_deref(), Some("urn:li:share:1"));
    assert_eq!(d.published_at, Some(published_at));
    assert_eq!(d.last_error, None);
}

#[test]
fn test_submitting_delivery_cannot_be_canceled() {
    let err = delivery(DeliveryState::Submitting)
        .apply(
            &DeliveryEvent::Cancel {
                reason: DeliveryError::new("canceled_by_user", "canceled"),
            },
            t0(),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot cancel a delivery that is submitting"
    );
}

#[test]
fn test_retry_later_returns_to_scheduled_at_retry_time() {
    let retry_at = t0() + SignedDuration::from_secs(90);
    let d = delivery(DeliveryState::Scheduled)
        .apply(&DeliveryEvent::Submit, t0())
        .unwrap()
        .apply(
            &DeliveryEvent::RetryLater {
                error: DeliveryError::new("rate_limited", "429 from partner"),
                retry_at,
            },
            t0(),
        )
        .unwrap();
    assert_eq!(d.state, DeliveryState::Scheduled);
    assert_eq!(d.due_at, retry_at);
    assert_eq!(d.attempts, 1);
    assert_eq!(d.version, 3);
    assert_eq!(d.last_error.unwrap().code, "rate_limited");
}
