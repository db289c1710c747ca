//! SDK failures mapped onto the `Table` port's outcomes: conditions, transient (retry) and permanent.

use crate::ports::TableError;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

pub(super) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> TableError {
    TableError::Permanent(format!("building request: {err}"))
}

/// Service error codes that mean "the same call may succeed later".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "TransactionConflictException",
    "LimitExceededException",
];

/// Maps an SDK failure onto the port's outcomes. Messages carry the operation, the error code and
/// the service's message only — never request contents or credentials.
pub(super) fn sdk_error<E>(op: &str, err: SdkError<E, HttpResponse>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            TableError::Transient(format!("{op}: {}", DisplayErrorContext(&err)))
        }
        SdkError::ServiceError(service) => {
            let code = err.code().unwrap_or("Unknown");
            let message = format!("{op}: {code}: {}", err.message().unwrap_or_default());
            if code == "ConditionalCheckFailedException" {
                TableError::ConditionFailed
            } else if TRANSIENT_CODES.contains(&code) || service.raw().status().is_server_error() {
                TableError::Transient(message)
            } else {
                TableError::Permanent(message)
            }
        }
        SdkError::ResponseError(response) if response.raw().status().is_server_error() => {
            TableError::Transient(format!("{op}: HTTP {}", response.raw().status()))
        }
        _ => TableError::Permanent(format!("{op}: {}", DisplayErrorContext(&err))),
    }
}

/// DynamoDB reports one cancellation reason per operation, in order; `None` for those that were fine.
pub(super) fn transaction_error(
    err: SdkError<TransactWriteItemsError, HttpResponse>,
) -> TableError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return sdk_error("TransactWriteItems", err);
    };
    let codes: Vec<Option<&str>> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code())
        .collect();
    cancellation_outcome(&codes)
}

pub(super) fn cancellation_outcome(codes: &[Option<&str>]) -> TableError {
    let failed: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, code)| **code == Some("ConditionalCheckFailed"))
        .map(|(i, _)| i)
        .collect();
    if !failed.is_empty() {
        return TableError::TransactionCancelled { failed };
    }
    let transient = codes.iter().flatten().any(|code| {
        matches!(
            *code,
            "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
        )
    });
    let reasons: Vec<&str> = codes
        .iter()
        .flatten()
        .copied()
        .filter(|c| *c != "None")
        .collect();
    let message = format!("TransactWriteItems cancelled: {reasons:?}");
    if transient {
        TableError::Transient(message)
    } else {
        TableError::Permanent(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn cancellation_reasons_name_the_failed_conditions() {
        let outcome = cancellation_outcome(&[
            Some("None"),
            Some("ConditionalCheckFailed"),
            None,
            Some("ConditionalCheckFailed"),
        ]);
        assert_eq!(
            outcome,
            TableError::TransactionCancelled { failed: vec![1, 3] }
        );
        assert!(matches!(
            cancellation_outcome(&[Some("None"), Some("TransactionConflict")]),
            TableError::Transient(_)
        ));
        assert!(matches!(
            cancellation_outcome(&[Some("ValidationError")]),
            TableError::Permanent(_)
        ));
    }
}
