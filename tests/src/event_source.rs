//! What Lambda's SQS event source mapping does, against a real queue (moto's SQS on
//! loopback): receive batches with a visibility timeout, invoke the function with them, delete
//! what the response acknowledges, and leave the rest (or the whole batch, when the invocation
//! failed or was killed) to reappear. The queue's own redrive policy moves a message that was
//! received too often to its dead-letter queue, as SQS does.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{Value, json};

use crate::runtime_api::{Outcome, RuntimeApi};

/// The mapping's settings.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub queue_url: String,
    pub queue_arn: String,
    /// Messages per invocation (at most 10, as for a standard queue without a window).
    pub batch_size: i32,
    /// The visibility timeout of a received batch, in seconds.
    pub visibility_timeout: i32,
    /// While this is set and true, messages are still being sent: an empty queue is waited
    /// on, not taken as the end.
    pub producing: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// What draining the queue took.
#[derive(Debug, Clone, Default)]
pub struct Drained {
    pub invocations: u64,
    pub messages_received: u64,
    /// Messages received more than once.
    pub redeliveries: u64,
    pub deleted: u64,
    /// Message ids the function reported as batch item failures.
    pub item_failures: u64,
    /// Invocations killed at the timeout (their whole batch came back).
    pub killed: u64,
    /// Invocations that returned an error (their whole batch came back).
    pub errors: u64,
    /// Receives per message id.
    pub receives: BTreeMap<String, u64>,
    pub elapsed: Duration,
}

/// A message as the event source mapping hands it to the function.
fn record(m: &aws_sdk_sqs::types::Message, mapping: &Mapping) -> Value {
    let mut attributes = serde_json::Map::new();
    if let Some(a) = m.attributes() {
        for (k, v) in a {
            attributes.insert(k.as_str().to_string(), Value::String(v.clone()));
        }
    }
    json!({
        "messageId": m.message_id(),
        "receiptHandle": m.receipt_handle(),
        "body": m.body(),
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": m.md5_of_body().unwrap_or(""),
        "eventSource": "aws:sqs",
        "eventSourceARN": mapping.queue_arn,
        "awsRegion": "us-east-1",
    })
}

impl Mapping {
    /// Polls until the queue is empty (nothing visible, nothing in flight), or `limit` passes.
    pub async fn drain(
        &self,
        sqs: &aws_sdk_sqs::Client,
        function: &RuntimeApi,
        limit: Duration,
    ) -> Drained {
        let started = std::time::Instant::now();
        let mut out = Drained::default();
        while started.elapsed() < limit {
            let got = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(self.batch_size)
                .visibility_timeout(self.visibility_timeout)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = got.messages();
            if messages.is_empty() {
                let producing = self
                    .producing
                    .as_ref()
                    .is_some_and(|p| p.load(std::sync::atomic::Ordering::SeqCst));
                if !producing && self.is_empty(sqs).await {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            out.messages_received += messages.len() as u64;
            for m in messages {
                let n = out
                    .receives
                    .entry(m.message_id().unwrap_or("").to_string())
                    .or_default();
                *n += 1;
                if *n > 1 {
                    out.redeliveries += 1;
                }
            }
            let event =
                json!({"Records": messages.iter().map(|m| record(m, self)).collect::<Vec<_>>()});
            out.invocations += 1;
            let outcome = function.invoke(&event).await;
            if std::env::var_os("IPCHECK_TRACE_MAPPING").is_some() {
                eprintln!(
                    "[mapping] {:.2}s: invocation {} of {} messages: {:?}",
                    started.elapsed().as_secs_f64(),
                    out.invocations,
                    messages.len(),
                    match &outcome {
                        Outcome::Response(b) => String::from_utf8_lossy(b).to_string(),
                        other => format!("{other:?}"),
                    }
                );
            }
            let failed: Vec<String> = match outcome {
                Outcome::Response(body) => {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    v["batchItemFailures"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                }
                Outcome::Error(_) => {
                    out.errors += 1;
                    continue;
                }
                Outcome::Killed => {
                    out.killed += 1;
                    continue;
                }
            };
            out.item_failures += failed.len() as u64;
            let done: Vec<&aws_sdk_sqs::types::Message> = messages
                .iter()
                .filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
                .collect();
            for chunk in done.chunks(10) {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(format!("m{i}"))
                            .receipt_handle(m.receipt_handle().unwrap_or(""))
                            .build()
                            .expect("delete entry")
                    })
                    .collect();
                sqs.delete_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("DeleteMessageBatch");
                out.deleted += chunk.len() as u64;
            }
        }
        out.elapsed = started.elapsed();
        out
    }

    async fn is_empty(&self, sqs: &aws_sdk_sqs::Client) -> bool {
        let (visible, in_flight) = depth(sqs, &self.queue_url).await;
        visible == 0 && in_flight == 0
    }
}

/// The queue's approximate (visible, in flight) message counts.
pub async fn depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    let n = |k: A| {
        attrs
            .attributes()
            .and_then(|a| a.get(&k))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        n(A::ApproximateNumberOfMessages),
        n(A::ApproximateNumberOfMessagesNotVisible),
    )
}

/// A queue with a dead-letter queue after `max_receive_count` receives: (url, arn, dlq url).
pub async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> (String, String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let arn_of = |url: String| async move {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(A::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes");
        attrs
            .attributes()
            .and_then(|a| a.get(&A::QueueArn))
            .cloned()
            .expect("QueueArn")
    };
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("url")
        .to_string();
    let dlq_arn = arn_of(dlq.clone()).await;
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            A::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count.to_string()})
                .to_string(),
        )
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("url")
        .to_string();
    let arn = arn_of(queue.clone()).await;
    (queue, arn, dlq)
}

/// Every message left in a queue (received and deleted), e.g. a dead-letter queue.
pub async fn take_all(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage");
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap_or(""))
                .send()
                .await
                .expect("DeleteMessage");
            out.push(m.clone());
        }
    }
}

/// Sends `bodies` (in batches of 10).
pub async fn send_all(sqs: &aws_sdk_sqs::Client, queue: &str, bodies: &[String]) {
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    for (n, chunk) in bodies.chunks(10).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("b{n}-{i}"))
                    .message_body(b)
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(queue)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("SendMessageBatch");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}
