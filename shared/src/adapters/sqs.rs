//! `SqsQueue`: the `Queue` and `QueueConsumer` ports on an SQS FIFO queue and its dead-letter queue.
//! Redelivery after the visibility timeout and dead-lettering after max receives are SQS's own
//! (the queue's `RedrivePolicy`); this adapter only sends, receives, acknowledges and lists.

use crate::ports::{MAX_SEND_BATCH, OutMessage, Queue, QueueConsumer, QueueError, Received};
use async_trait::async_trait;
/// The SDK, for callers that build clients (functions' `main`, tests) without depending on it.
pub use aws_sdk_sqs as sdk;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// SQS's limit on one message, and on the sum of the messages of one `SendMessageBatch`
/// (the classic 256 KiB, which every SQS-compatible endpoint accepts).
const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// SQS's limits on `MessageGroupId` and `MessageDeduplicationId`.
const MAX_ID_CHARS: usize = 128;
/// SQS's limits on one `ReceiveMessage` and on a visibility timeout.
const MAX_RECEIVE: usize = 10;
const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;
/// Long polling (any value above zero) asks every SQS server, not a sample; one second keeps
/// an idle consumer responsive.
const WAIT_SECS: i32 = 1;
/// How long `dead_letters` hides the messages it has seen while it pages on; it makes them visible
/// again when done, so this only matters if it is interrupted.
const LISTING_VISIBILITY_SECS: i32 = 10;

/// The `Queue` and `QueueConsumer` ports on one SQS FIFO queue.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: String) -> Self {
        Self {
            client,
            queue_url,
            dlq_url: None,
        }
    }

    /// The queue named in the main queue's `RedrivePolicy`, for `dead_letters`.
    pub fn with_dead_letter_queue(mut self, dlq_url: String) -> Self {
        self.dlq_url = Some(dlq_url);
        self
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends one chunk; returns the messages SQS did not accept for reasons of its own.
    async fn send_chunk(&self, chunk: &[OutMessage]) -> Result<Vec<OutMessage>, QueueError> {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_group_id(&m.group)
                    .message_deduplication_id(&m.dedup_id)
                    .message_body(&m.body)
                    .build()
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error("SendMessageBatch", e))?;
        let mut retry = Vec::new();
        for failed in out.failed() {
            if failed.sender_fault() {
                return Err(QueueError::Invalid(format!(
                    "SendMessageBatch entry refused: {}",
                    failed.code()
                )));
            }
            let message = failed
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| chunk.get(i))
                .ok_or_else(|| {
                    QueueError::Permanent("SendMessageBatch: unknown entry id".into())
                })?;
            retry.push(message.clone());
        }
        Ok(retry)
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility_secs: i32,
        wait_secs: i32,
    ) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from(max.min(MAX_RECEIVE)).unwrap_or(1))
            .visibility_timeout(visibility_secs)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::SequenceNumber)
            .send()
            .await
            .map_err(|e| sdk_error("ReceiveMessage", e))?;
        Ok(out.messages().to_vec())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: OutMessage) -> Result<(), QueueError> {
        validate(&message)?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_group_id(message.group)
            .message_deduplication_id(message.dedup_id)
            .message_body(message.body)
            .send()
            .await
            .map_err(|e| sdk_error("SendMessage", e))?;
        Ok(())
    }

    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), QueueError> {
        messages.iter().try_for_each(validate)?;
        for chunk in send_chunks(messages) {
            let failed = self.send_chunk(&chunk).await?;
            if failed.is_empty() {
                continue;
            }
            // Once: a second refusal is reported, and the caller's retry is safe by dedup id.
            let still = self.send_chunk(&failed).await?;
            if !still.is_empty() {
                return Err(QueueError::Transient(format!(
                    "SendMessageBatch: {} messages not accepted after a retry",
                    still.len()
                )));
            }
        }
        Ok(())
    }

    fn engine(&self) -> &'static str {
        "sqs"
    }
}

#[async_trait]
impl QueueConsumer for SqsQueue {
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let messages = self
            .receive_from(&self.queue_url, max, whole_seconds(visibility), WAIT_SECS)
            .await?;
        messages.iter().map(received).collect()
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteMessage", e))?;
        Ok(())
    }

    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(whole_seconds(delay))
            .send()
            .await
            .map_err(|e| sdk_error("ChangeMessageVisibility", e))?;
        Ok(())
    }

    /// Pages through the dead-letter queue by hiding what it has seen, then makes all of it visible
    /// again. A FIFO queue hides the rest of a message group while part of it is in flight, so at
    /// most one receive's worth (10) per group is listed.
    async fn dead_letters(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let Some(dlq) = &self.dlq_url else {
            return Err(QueueError::Permanent(
                "no dead-letter queue configured".to_owned(),
            ));
        };
        let mut seen: Vec<Message> = Vec::new();
        let mut ids = HashSet::new();
        while seen.len() < max {
            let batch = self
                .receive_from(dlq, max - seen.len(), LISTING_VISIBILITY_SECS, WAIT_SECS)
                .await?;
            let before = seen.len();
            for message in batch {
                if ids.insert(message.message_id().unwrap_or_default().to_owned()) {
                    seen.push(message);
                }
            }
            if seen.len() == before {
                break;
            }
        }
        let receipts: Vec<&str> = seen.iter().filter_map(|m| m.receipt_handle()).collect();
        // Every SQS batch call takes at most 10 entries, as `SendMessageBatch` does.
        for chunk in receipts.chunks(MAX_SEND_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .visibility_timeout(0)
                        .build()
                        .map_err(build_error)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let result = self
                .client
                .change_message_visibility_batch()
                .queue_url(dlq)
                .set_entries(Some(entries))
                .send()
                .await;
            // The listing itself succeeded; a message left hidden reappears within seconds.
            if let Err(err) = result {
                tracing::warn!(error = %DisplayErrorContext(&err), "dead-letter messages left hidden");
            }
        }
        seen.sort_by_key(|m| {
            let attr = |name| attribute(m, name).and_then(|v| v.parse::<u128>().ok());
            (
                attr(MessageSystemAttributeName::SentTimestamp),
                attr(MessageSystemAttributeName::SequenceNumber),
            )
        });
        seen.truncate(max);
        seen.iter().map(received).collect()
    }
}

/// Splits messages into `SendMessageBatch` calls: at most 10 entries and 256 KiB of bodies each,
/// in order.
fn send_chunks(messages: Vec<OutMessage>) -> Vec<Vec<OutMessage>> {
    let mut chunks: Vec<Vec<OutMessage>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = message.body.len();
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < MAX_SEND_BATCH && bytes + size <= MAX_PAYLOAD_BYTES => {
                bytes += size;
                chunk.push(message);
            }
            _ => {
                bytes = size;
                chunks.push(vec![message]);
            }
        }
    }
    chunks
}

/// SQS's rules for FIFO messages, checked before the call so they surface as `Invalid`.
fn validate(message: &OutMessage) -> Result<(), QueueError> {
    let id_ok = |id: &str| {
        !id.is_empty() && id.len() <= MAX_ID_CHARS && id.chars().all(|c| c.is_ascii_graphic())
    };
    if !id_ok(&message.group) {
        return Err(QueueError::Invalid("message group id".to_owned()));
    }
    if !id_ok(&message.dedup_id) {
        return Err(QueueError::Invalid("deduplication id".to_owned()));
    }
    if message.body.is_empty() || message.body.len() > MAX_PAYLOAD_BYTES {
        return Err(QueueError::Invalid(format!(
            "body of {} bytes (1..={MAX_PAYLOAD_BYTES})",
            message.body.len()
        )));
    }
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    };
    if !message.body.chars().all(allowed) {
        return Err(QueueError::Invalid(
            "body has characters SQS refuses".to_owned(),
        ));
    }
    Ok(())
}

/// SQS counts visibility in whole seconds; round up so a short delay is never "now".
fn whole_seconds(duration: Duration) -> i32 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(secs.min(MAX_VISIBILITY_SECS)).unwrap_or(i32::MAX)
}

fn attribute(message: &Message, name: MessageSystemAttributeName) -> Option<&str> {
    message
        .attributes()
        .and_then(|a| a.get(&name))
        .map(String::as_str)
}

fn received(message: &Message) -> Result<Received, QueueError> {
    let missing =
        |what: &str| QueueError::Permanent(format!("ReceiveMessage: message without {what}"));
    Ok(Received {
        id: message
            .message_id()
            .ok_or_else(|| missing("id"))?
            .to_owned(),
        receipt: message
            .receipt_handle()
            .ok_or_else(|| missing("receipt handle"))?
            .to_owned(),
        group: attribute(message, MessageSystemAttributeName::MessageGroupId)
            .unwrap_or_default()
            .to_owned(),
        body: message.body().unwrap_or_default().to_owned(),
        receive_count: attribute(message, MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    })
}

fn build_error(err: aws_sdk_sqs::error::BuildError) -> QueueError {
    QueueError::Permanent(format!("building request: {err}"))
}

/// Error codes that mean "the same call may succeed later" (both the JSON and the legacy query
/// protocol spellings).
const TRANSIENT_CODES: &[&str] = &[
    "RequestThrottled",
    "ThrottlingException",
    "AWS.SimpleQueueService.RequestThrottled",
    "KmsThrottled",
    "OverLimit",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
];

/// Error codes for a request SQS refuses as malformed.
const INVALID_CODES: &[&str] = &[
    "InvalidParameterValue",
    "InvalidMessageContents",
    "MissingParameter",
    "ReceiptHandleIsInvalid",
    "InvalidIdFormat",
    "InvalidAddress",
];

/// Maps an SDK failure onto the port's outcomes. Messages carry the operation, the error code and
/// the service's message only — never message bodies or credentials.
fn sdk_error<E>(op: &str, err: SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            QueueError::Transient(format!("{op}: {}", DisplayErrorContext(&err)))
        }
        SdkError::ServiceError(service) => {
            let code = err.code().unwrap_or("Unknown");
            let message = format!("{op}: {code}: {}", err.message().unwrap_or_default());
            if TRANSIENT_CODES.contains(&code) || service.raw().status().is_server_error() {
                QueueError::Transient(message)
            } else if INVALID_CODES.contains(&code) {
                QueueError::Invalid(message)
            } else {
                QueueError::Permanent(message)
            }
        }
        SdkError::ResponseError(response) if response.raw().status().is_server_error() => {
            QueueError::Transient(format!("{op}: HTTP {}", response.raw().status()))
        }
        _ => QueueError::Permanent(format!("{op}: {}", DisplayErrorContext(&err))),
    }
}

/// Creates (or updates) `{name}-dlq.fifo` and `{name}.fifo`, the latter redriving to the former
/// after `max_receives` receives. Returns `(queue_url, dlq_url)`.
pub async fn create_fifo_queue_with_dlq(
    client: &Client,
    name: &str,
    max_receives: u32,
    visibility_timeout_secs: u32,
) -> Result<(String, String), QueueError> {
    let fifo = HashMap::from([
        (QueueAttributeName::FifoQueue, "true".to_owned()),
        (
            QueueAttributeName::ContentBasedDeduplication,
            "false".to_owned(),
        ),
    ]);
    let mut dlq_attrs = fifo.clone();
    // The longest SQS allows: dead letters wait for a person.
    dlq_attrs.insert(
        QueueAttributeName::MessageRetentionPeriod,
        "1209600".to_owned(),
    );
    let dlq_url = ensure_queue(client, &format!("{name}-dlq.fifo"), dlq_attrs).await?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error("GetQueueAttributes", e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| QueueError::Permanent("GetQueueAttributes: no QueueArn".to_owned()))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receives,
    });
    let mut attrs = fifo;
    attrs.insert(QueueAttributeName::RedrivePolicy, redrive.to_string());
    attrs.insert(
        QueueAttributeName::VisibilityTimeout,
        visibility_timeout_secs.to_string(),
    );
    let queue_url = ensure_queue(client, &format!("{name}.fifo"), attrs).await?;
    Ok((queue_url, dlq_url))
}

/// `CreateQueue` is idempotent only when the attributes match; otherwise update the existing queue.
async fn ensure_queue(
    client: &Client,
    name: &str,
    mut attrs: HashMap<QueueAttributeName, String>,
) -> Result<String, QueueError> {
    let created = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attrs.clone()))
        .send()
        .await;
    match created {
        Ok(out) => out
            .queue_url()
            .map(str::to_owned)
            .ok_or_else(|| QueueError::Permanent("CreateQueue: no QueueUrl".to_owned())),
        Err(err)
            if matches!(
                err.code(),
                Some(
                    "QueueAlreadyExists"
                        | "QueueNameExists"
                        | "AWS.SimpleQueueService.QueueNameExists"
                )
            ) =>
        {
            let url = client
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| sdk_error("GetQueueUrl", e))?
                .queue_url()
                .map(str::to_owned)
                .ok_or_else(|| QueueError::Permanent("GetQueueUrl: no QueueUrl".to_owned()))?;
            // Immutable after creation, and already true for a queue named `.fifo`.
            attrs.remove(&QueueAttributeName::FifoQueue);
            client
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(attrs))
                .send()
                .await
                .map_err(|e| sdk_error("SetQueueAttributes", e))?;
            Ok(url)
        }
        Err(err) => Err(sdk_error("CreateQueue", err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: usize, body_len: usize) -> OutMessage {
        OutMessage::new("g", format!("d{i}"), "x".repeat(body_len))
    }

    #[test]
    fn batches_are_chunked_by_ten_in_order() {
        let messages: Vec<_> = (0..23).map(|i| message(i, 1)).collect();
        let chunks = send_chunks(messages);
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 3]);
        assert_eq!(chunks[1][0].dedup_id, "d10");
    }

    #[test]
    fn batches_stay_under_the_payload_limit() {
        let messages: Vec<_> = (0..5).map(|i| message(i, 100 * 1024)).collect();
        let sizes: Vec<usize> = send_chunks(messages).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }

    #[test]
    fn an_empty_batch_makes_no_calls() {
        assert!(send_chunks(Vec::new()).is_empty());
    }

    #[test]
    fn messages_breaking_sqs_rules_are_invalid() {
        assert!(validate(&OutMessage::new("g", "d", "ok")).is_ok());
        for bad in [
            OutMessage::new("", "d", "b"),
            OutMessage::new("g", "d d", "b"),
            OutMessage::new("g", "x".repeat(129), "b"),
            OutMessage::new("g", "d", ""),
            OutMessage::new("g", "d", "\u{1}"),
            OutMessage::new("g", "d", "x".repeat(MAX_PAYLOAD_BYTES + 1)),
        ] {
            assert!(
                matches!(validate(&bad), Err(QueueError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn visibility_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(2500)), 3);
        assert_eq!(whole_seconds(Duration::from_secs(u64::MAX)), 43_200);
    }
}
