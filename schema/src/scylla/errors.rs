//! Maps ScyllaDB driver errors to [`StoreError`]: server and client timeouts become `Timeout`
//! (the write may or may not have applied), `Overloaded` and rate limits become `Overloaded`,
//! unavailable replicas and broken connections become `Unavailable`; the rest is `Backend`.

use scylla::errors::{
    DbError, ExecutionError, NewSessionError, NextPageError, NextRowError, PagerExecutionError,
    PrepareError, RequestAttemptError, RequestError, SchemaAgreementError, UseKeyspaceError,
};

use crate::error::StoreError;

/// Maps a failed attempt (the server's answer, or the connection's failure).
pub(crate) fn attempt(e: RequestAttemptError) -> StoreError {
    match e {
        RequestAttemptError::DbError(db, msg) => db_error(&db, msg),
        e @ (RequestAttemptError::BrokenConnectionError(_)
        | RequestAttemptError::UnableToAllocStreamId) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

fn db_error(db: &DbError, msg: String) -> StoreError {
    match db {
        DbError::ReadTimeout { .. } | DbError::WriteTimeout { .. } => StoreError::Timeout(msg),
        DbError::Overloaded | DbError::RateLimitReached { .. } => StoreError::Overloaded(msg),
        DbError::Unavailable { .. } | DbError::IsBootstrapping => StoreError::Unavailable(msg),
        other => StoreError::Backend(format!("{other}: {msg}")),
    }
}

/// Maps a failed request.
pub(crate) fn execution(e: ExecutionError) -> StoreError {
    match e {
        ExecutionError::RequestTimeout(d) => {
            StoreError::Timeout(format!("no answer within {} ms", d.as_millis()))
        }
        ExecutionError::LastAttemptError(a) => attempt(a),
        e @ (ExecutionError::ConnectionPoolError(_) | ExecutionError::EmptyPlan) => {
            StoreError::Unavailable(e.to_string())
        }
        ExecutionError::PrepareError(p) => prepare(p),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Maps a failed paged request (first page).
pub(crate) fn pager(e: PagerExecutionError) -> StoreError {
    match e {
        PagerExecutionError::NextPageError(p) => next_page(p),
        PagerExecutionError::PrepareError(p) => prepare(p),
        other => StoreError::Backend(other.to_string()),
    }
}

fn next_page(e: NextPageError) -> StoreError {
    match e {
        NextPageError::RequestFailure(r) => request(r),
        other => StoreError::Backend(other.to_string()),
    }
}

fn request(e: RequestError) -> StoreError {
    execution(e.into_execution_error())
}

/// Maps a failure while streaming rows (a later page or a row that does not decode).
pub(crate) fn next_row(e: NextRowError) -> StoreError {
    match e {
        NextRowError::NextPageError(p) => next_page(p),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Maps a failed statement preparation.
pub(crate) fn prepare(e: PrepareError) -> StoreError {
    match e {
        PrepareError::ConnectionPoolError(e) => StoreError::Unavailable(e.to_string()),
        PrepareError::AllAttemptsFailed { first_attempt } => attempt(first_attempt),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Maps a failed connection.
pub(crate) fn session(e: NewSessionError) -> StoreError {
    StoreError::Unavailable(format!("cannot connect to ScyllaDB: {e}"))
}

/// Maps a failed `USE keyspace`.
pub(crate) fn use_keyspace(e: UseKeyspaceError) -> StoreError {
    match e {
        UseKeyspaceError::RequestError(a) => attempt(a),
        UseKeyspaceError::RequestTimeout(d) => {
            StoreError::Timeout(format!("use keyspace: {} ms", d.as_millis()))
        }
        other => StoreError::Backend(other.to_string()),
    }
}

/// Maps a schema agreement that did not come.
pub(crate) fn agreement(e: SchemaAgreementError) -> StoreError {
    match e {
        SchemaAgreementError::RequestError(a) => attempt(a),
        SchemaAgreementError::ConnectionPoolError(e) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Unavailable(format!("schema agreement: {other}")),
    }
}

/// Maps a result that does not have the expected shape.
pub(crate) fn shape(table: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Decode {
        table,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scylla::errors::{OperationType, WriteType};
    use scylla::statement::Consistency;

    use super::*;

    fn db(e: DbError) -> StoreError {
        execution(ExecutionError::LastAttemptError(
            RequestAttemptError::DbError(e, "msg".into()),
        ))
    }

    #[test]
    fn test_server_timeouts_map_to_timeout() {
        let write = DbError::WriteTimeout {
            consistency: Consistency::Quorum,
            received: 1,
            required: 2,
            write_type: WriteType::Cas,
        };
        assert!(matches!(db(write), StoreError::Timeout(_)));
        let read = DbError::ReadTimeout {
            consistency: Consistency::Quorum,
            received: 1,
            required: 2,
            data_present: false,
        };
        assert!(matches!(db(read), StoreError::Timeout(_)));
        assert!(matches!(
            execution(ExecutionError::RequestTimeout(Duration::from_secs(1))),
            StoreError::Timeout(_)
        ));
    }

    #[test]
    fn test_overload_and_unavailable_map_to_retryable_errors() {
        assert!(matches!(db(DbError::Overloaded), StoreError::Overloaded(_)));
        let rate = DbError::RateLimitReached {
            op_type: OperationType::Write,
            rejected_by_coordinator: true,
        };
        assert!(matches!(db(rate), StoreError::Overloaded(_)));
        let unavailable = DbError::Unavailable {
            consistency: Consistency::Quorum,
            required: 2,
            alive: 1,
        };
        assert!(matches!(db(unavailable), StoreError::Unavailable(_)));
        assert!(matches!(
            execution(ExecutionError::EmptyPlan),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(db(DbError::SyntaxError), StoreError::Backend(_)));
    }
}
