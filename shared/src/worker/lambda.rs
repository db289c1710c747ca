//! The Lambda side of queue-triggered functions (feature `lambda`): an invocation told apart as an
//! SQS batch or an EventBridge schedule, and the batch answered with `ReportBatchItemFailures`.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use super::BatchHandler;
use crate::ports::Received;

/// What a queue-and-schedule Lambda (sync worker, full pull) was invoked with.
#[derive(Debug)]
pub enum Invocation {
    /// SQS records from the event source mapping.
    Batch(Vec<Received>),
    /// An EventBridge schedule.
    Schedule,
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("unrecognised event: neither SQS records nor an EventBridge schedule")]
    Unrecognised,
    #[error("malformed {what} event: {cause}")]
    Malformed { what: &'static str, cause: String },
}

/// Tell an SQS batch from an EventBridge schedule.
pub fn parse_invocation(payload: serde_json::Value) -> Result<Invocation, InvocationError> {
    if payload.get("Records").is_some() {
        let event: SqsEvent =
            serde_json::from_value(payload).map_err(|e| InvocationError::Malformed {
                what: "SQS",
                cause: e.to_string(),
            })?;
        return Ok(Invocation::Batch(
            event.records.into_iter().map(received).collect(),
        ));
    }
    let scheduled = payload.get("detail-type").is_some()
        || payload.get("source").and_then(|s| s.as_str()) == Some("aws.events");
    if scheduled {
        return Ok(Invocation::Schedule);
    }
    Err(InvocationError::Unrecognised)
}

/// Run a batch and answer with its failed message ids (`ReportBatchItemFailures`).
pub async fn answer_batch(
    handler: &dyn BatchHandler,
    batch: Vec<Received>,
) -> Result<serde_json::Value, InvocationError> {
    let failed = handler.handle(batch).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    serde_json::to_value(response).map_err(|e| InvocationError::Malformed {
        what: "batch response",
        cause: e.to_string(),
    })
}

/// An SQS record as every handler sees a queue message.
pub fn received(m: SqsMessage) -> Received {
    let receive_count = m
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    Received {
        id: m.message_id.unwrap_or_default(),
        receipt: m.receipt_handle.unwrap_or_default(),
        group: m
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_default(),
        body: m.body.unwrap_or_default(),
        receive_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    /// Fails every message whose body is "flaky".
    struct Recorder;

    #[async_trait]
    impl BatchHandler for Recorder {
        async fn handle(&self, batch: Vec<Received>) -> Vec<String> {
            batch
                .into_iter()
                .filter(|m| m.body == "flaky")
                .map(|m| m.id)
                .collect()
        }
    }

    #[test]
    fn an_sqs_record_keeps_its_group_and_receive_count() {
        let parsed = parse_invocation(serde_json::json!({"Records": [{
            "messageId": "m1", "receiptHandle": "r1", "body": "{}",
            "attributes": {"ApproximateReceiveCount": "3", "MessageGroupId": "conn"}
        }]}))
        .unwrap();
        let Invocation::Batch(batch) = parsed else {
            panic!("not a batch")
        };
        let r = &batch[0];
        assert_eq!(
            (r.id.as_str(), r.group.as_str(), r.receive_count),
            ("m1", "conn", 3)
        );
    }

    #[test]
    fn schedules_are_recognised_and_anything_else_refused() {
        let schedule =
            serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event"});
        assert!(matches!(
            parse_invocation(schedule),
            Ok(Invocation::Schedule)
        ));
        assert!(matches!(
            parse_invocation(serde_json::json!({"hello": 1})),
            Err(InvocationError::Unrecognised)
        ));
        assert!(matches!(
            parse_invocation(serde_json::json!({"Records": "nope"})),
            Err(InvocationError::Malformed { .. })
        ));
    }

    #[tokio::test]
    async fn a_batch_answer_lists_only_the_failed_ids() {
        let recorder = Recorder;
        let batch = vec![
            Received {
                id: "a".into(),
                receipt: "ra".into(),
                group: "g".into(),
                body: "steady".into(),
                receive_count: 1,
            },
            Received {
                id: "b".into(),
                receipt: "rb".into(),
                group: "g".into(),
                body: "flaky".into(),
                receive_count: 1,
            },
        ];
        let answer = answer_batch(&recorder, batch).await.unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "b"}]})
        );
    }
}
