//! Every statement the ScyllaDB store runs, prepared once at connect. The CQL text lives beside
//! the method that runs it; this list only names and prepares them.

use scylla::client::session::Session;
use scylla::statement::Consistency;
use scylla::statement::prepared::PreparedStatement;

use super::erasure as er;
use super::events as ev;
use super::imports as im;
use super::privacy as pv;
use super::{
    DEFAULT_PAGE_SIZE, accounts as a, deliveries as d, errors, meta as m, posts as p, users as u,
};
use super::{analytics as an, webhooks as wh};
use crate::error::StoreResult;

/// How a statement is prepared.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// The default consistency (LOCAL_QUORUM).
    Normal,
    /// SERIAL reads: linearizable with lightweight transactions, used after a lost LWT.
    Serial,
}

macro_rules! statements {
    ($($field:ident = $cql:expr $(, $mode:ident)?;)*) => {
        /// The prepared statements, one per access pattern.
        pub(crate) struct Statements {
            $(pub(crate) $field: PreparedStatement,)*
        }

        impl Statements {
            /// Prepares every statement.
            ///
            /// # Errors
            /// The first preparation the cluster refuses (a schema that is not migrated).
            pub(crate) async fn prepare(session: &Session) -> StoreResult<Self> {
                Ok(Self {
                    $($field: prepare_one(session, $cql, statements!(@mode $($mode)?)).await?,)*
                })
            }
        }
    };
    (@mode) => { Mode::Normal };
    (@mode $mode:ident) => { Mode::$mode };
}

statements! {
    put_user = u::PUT_USER;
    get_user = u::GET_USER;
    put_user_by_subject = u::PUT_USER_BY_SUBJECT;
    delete_user_by_subject = u::DELETE_USER_BY_SUBJECT;
    get_user_by_subject = u::GET_USER_BY_SUBJECT;
    put_user_all = u::PUT_USER_ALL;
    list_users = u::LIST_USERS;
    put_workspace = u::PUT_WORKSPACE;
    get_workspace = u::GET_WORKSPACE;
    put_workspace_all = u::PUT_WORKSPACE_ALL;
    list_workspaces = u::LIST_WORKSPACES;
    put_member = u::PUT_MEMBER;
    put_member_by_user = u::PUT_MEMBER_BY_USER;
    delete_member = u::DELETE_MEMBER;
    delete_member_by_user = u::DELETE_MEMBER_BY_USER;
    get_member = u::GET_MEMBER;
    list_members = u::LIST_MEMBERS;
    list_memberships_of_user = u::LIST_MEMBERSHIPS_OF_USER;
    put_key = u::PUT_KEY;
    get_key = u::GET_KEY;
    delete_key = u::DELETE_KEY;
    count_keys = u::COUNT_KEYS;
    put_key_by_hash = u::PUT_KEY_BY_HASH;
    get_key_by_hash = u::GET_KEY_BY_HASH;
    delete_key_by_hash = u::DELETE_KEY_BY_HASH;
    put_key_by_owner = u::PUT_KEY_BY_OWNER;
    list_keys_by_owner = u::LIST_KEYS_BY_OWNER;
    delete_key_by_owner = u::DELETE_KEY_BY_OWNER;
    put_account = a::PUT_ACCOUNT;
    get_account = a::GET_ACCOUNT;
    list_accounts = a::LIST_ACCOUNTS;
    put_tokens = a::PUT_TOKENS;
    get_tokens = a::GET_TOKENS;
    delete_tokens = a::DELETE_TOKENS;
    put_data_key = a::PUT_DATA_KEY;
    create_data_key = a::CREATE_DATA_KEY;
    get_data_key = a::GET_DATA_KEY;
    get_data_key_serial = a::GET_DATA_KEY, Serial;
    delete_data_key = a::DELETE_DATA_KEY;
    put_data_key_all = a::PUT_DATA_KEY_ALL;
    delete_data_key_all = a::DELETE_DATA_KEY_ALL;
    list_data_keys = a::LIST_DATA_KEYS;
    put_media = a::PUT_MEDIA;
    get_media = a::GET_MEDIA;
    delete_media = a::DELETE_MEDIA;
    list_media = a::LIST_MEDIA;
    put_session = a::PUT_SESSION;
    get_session = a::GET_SESSION;
    delete_session = a::DELETE_SESSION;
    put_session_of_user = a::PUT_SESSION_OF_USER;
    list_sessions_of_user = a::LIST_SESSIONS_OF_USER;
    delete_session_of_user = a::DELETE_SESSION_OF_USER;
    put_post = p::PUT_POST;
    get_post = p::GET_POST;
    delete_post = p::DELETE_POST;
    list_posts = p::LIST_POSTS;
    put_external_id = p::PUT_EXTERNAL_ID;
    get_external_id = p::GET_EXTERNAL_ID;
    claim_external_id = p::CLAIM_EXTERNAL_ID;
    get_external_id_serial = p::GET_EXTERNAL_ID, Serial;
    delete_external_id = p::DELETE_EXTERNAL_ID;
    put_delivery = p::PUT_DELIVERY;
    delete_deliveries_of_post = p::DELETE_DELIVERIES_OF_POST;
    get_delivery = d::GET_DELIVERY;
    get_delivery_serial = d::GET_DELIVERY, Serial;
    list_deliveries = d::LIST_DELIVERIES;
    cas_delivery = d::CAS_DELIVERY;
    put_account_due = d::PUT_ACCOUNT_DUE;
    put_account_due_day = d::PUT_ACCOUNT_DUE_DAY;
    put_due_by_bucket = d::PUT_DUE_BY_BUCKET;
    list_due_days = d::LIST_DUE_DAYS;
    list_account_due = d::LIST_ACCOUNT_DUE;
    list_due_in_bucket = d::LIST_DUE_IN_BUCKET;
    put_account_publish = d::PUT_ACCOUNT_PUBLISH;
    list_account_publishes = d::LIST_ACCOUNT_PUBLISHES;
    claim_idempotency = m::CLAIM_IDEMPOTENCY;
    take_over_idempotency = m::TAKE_OVER_IDEMPOTENCY;
    get_idempotency = m::GET_IDEMPOTENCY;
    get_idempotency_serial = m::GET_IDEMPOTENCY, Serial;
    put_idempotency = m::PUT_IDEMPOTENCY;
    delete_idempotency = m::DELETE_IDEMPOTENCY;
    ping = m::PING;
    append_audit = pv::APPEND_AUDIT;
    list_audit = pv::LIST_AUDIT;
    append_audit_of_actor = pv::APPEND_AUDIT_OF_ACTOR;
    list_audit_of_actor = pv::LIST_AUDIT_OF_ACTOR;
    count_audit_day = pv::COUNT_AUDIT_DAY;
    delete_audit_day = pv::DELETE_AUDIT_DAY;
    count_audit_of_actor_day = pv::COUNT_AUDIT_OF_ACTOR_DAY;
    delete_audit_of_actor_day = pv::DELETE_AUDIT_OF_ACTOR_DAY;
    list_exports = pv::LIST_EXPORTS;
    delete_export = pv::DELETE_EXPORT;
    put_export = pv::PUT_EXPORT;
    get_export = pv::GET_EXPORT;
    put_notice = pv::PUT_NOTICE;
    list_notices = pv::LIST_NOTICES;
    schema_version = m::SCHEMA_VERSION;
    put_revoke_retry = er::PUT_REVOKE_RETRY;
    list_revoke_retries = er::LIST_REVOKE_RETRIES;
    delete_revoke_retries = er::DELETE_REVOKE_RETRIES;
    put_erasure = er::PUT_ERASURE;
    get_erasure = er::GET_ERASURE;
    purge_posts = er::PURGE_POSTS;
    purge_accounts = er::PURGE_ACCOUNTS;
    purge_due_days = er::PURGE_DUE_DAYS;
    purge_account_due = er::PURGE_ACCOUNT_DUE;
    delete_due_by_bucket = er::DELETE_DUE_BY_BUCKET;
    delete_account_due_day = er::DELETE_ACCOUNT_DUE_DAY;
    delete_due_days = er::DELETE_DUE_DAYS;
    delete_account_publishes = er::DELETE_ACCOUNT_PUBLISHES;
    delete_account = er::DELETE_ACCOUNT;
    delete_media_of_workspace = er::DELETE_MEDIA_OF_WORKSPACE;
    purge_members = er::PURGE_MEMBERS;
    delete_members = er::DELETE_MEMBERS;
    delete_posts = er::DELETE_POSTS;
    delete_workspace = er::DELETE_WORKSPACE;
    delete_workspace_all = er::DELETE_WORKSPACE_ALL;
    delete_user = er::DELETE_USER;
    delete_user_all = er::DELETE_USER_ALL;
    put_webhook = wh::PUT_WEBHOOK;
    get_webhook = wh::GET_WEBHOOK;
    list_webhooks = wh::LIST_WEBHOOKS;
    delete_webhook = wh::DELETE_WEBHOOK;
    put_webhook_message = wh::PUT_WEBHOOK_MESSAGE;
    get_webhook_message = wh::GET_WEBHOOK_MESSAGE;
    put_webhook_due = wh::PUT_WEBHOOK_DUE;
    list_webhook_due = wh::LIST_WEBHOOK_DUE;
    put_webhook_attempt = wh::PUT_WEBHOOK_ATTEMPT;
    list_webhook_attempts = wh::LIST_WEBHOOK_ATTEMPTS;
    put_partner_account_ref = wh::PUT_PARTNER_ACCOUNT_REF;
    get_partner_account_ref = wh::GET_PARTNER_ACCOUNT_REF;
    delete_partner_account_ref = wh::DELETE_PARTNER_ACCOUNT_REF;
    purge_webhook_messages = wh::PURGE_WEBHOOK_MESSAGES;
    delete_webhook_due = wh::DELETE_WEBHOOK_DUE;
    delete_webhook_messages = wh::DELETE_WEBHOOK_MESSAGES;
    delete_webhook_attempts = wh::DELETE_WEBHOOK_ATTEMPTS;
    put_metric_sample = an::PUT_METRIC_SAMPLE;
    list_metric_samples = an::LIST_METRIC_SAMPLES;
    put_post_metric_sample = an::PUT_POST_METRIC_SAMPLE;
    list_post_metric_samples = an::LIST_POST_METRIC_SAMPLES;
    put_analytics_job = an::PUT_ANALYTICS_JOB;
    list_analytics_due = an::LIST_ANALYTICS_DUE;
    put_metric_partition = an::PUT_METRIC_PARTITION;
    list_metric_partitions = an::LIST_METRIC_PARTITIONS;
    purge_metric_posts = an::PURGE_METRIC_POSTS;
    delete_metric_samples = an::DELETE_METRIC_SAMPLES;
    delete_post_metric_samples = an::DELETE_POST_METRIC_SAMPLES;
    delete_metric_partition = an::DELETE_METRIC_PARTITION;
    put_event = ev::PUT_EVENT;
    list_events = ev::LIST_EVENTS;
    get_event_cursor = ev::GET_EVENT_CURSOR;
    put_event_cursor = ev::PUT_EVENT_CURSOR;
    list_webhook_due_between = wh::LIST_WEBHOOK_DUE_BETWEEN;
    put_analytics_job_of_ws = an::PUT_ANALYTICS_JOB_OF_WS;
    list_analytics_jobs_of_ws = an::LIST_ANALYTICS_JOBS_OF_WS;
    delete_analytics_job = an::DELETE_ANALYTICS_JOB;
    delete_analytics_job_of_ws = an::DELETE_ANALYTICS_JOB_OF_WS;
    put_import = im::PUT_IMPORT;
    get_import = im::GET_IMPORT;
    list_imports = im::LIST_IMPORTS;
}

async fn prepare_one(session: &Session, cql: &str, mode: Mode) -> StoreResult<PreparedStatement> {
    let mut st = session.prepare(cql).await.map_err(errors::prepare)?;
    st.set_page_size(DEFAULT_PAGE_SIZE);
    // Reads and plain upserts can be retried or sent speculatively; LWTs cannot.
    st.set_is_idempotent(!cql.contains(" IF "));
    if let Mode::Serial = mode {
        st.set_consistency(Consistency::Serial);
    }
    Ok(st)
}
