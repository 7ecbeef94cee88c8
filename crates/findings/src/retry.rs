//! Retries bounded by the invocation's deadline: jittered exponential backoff, and which AWS
//! errors are worth another attempt.

use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rand::Rng;
use tokio::time::Instant;

/// Full-jitter exponential backoff.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^n)].
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.cap);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }

    /// Sleeps before retry `attempt`, unless that would pass `deadline`: then returns false.
    pub async fn wait(&self, attempt: u32, deadline: Instant) -> bool {
        let delay = self.delay(attempt);
        if Instant::now() + delay >= deadline {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }
}

/// Whether a failed call may succeed if repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Throttling, 5xx, timeouts, connection errors, and configuration (permissions, a
    /// service not enabled): another delivery can succeed once the cause is gone.
    Transient(String),
    /// The request itself is wrong: repeating it cannot help.
    Permanent(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(m) | Failure::Permanent(m) => m,
        }
    }
}

/// Classifies an SDK error.
pub fn classify<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown");
            let text = format!("{code}: {}", e.message().unwrap_or(""));
            if is_invalid_request(code) {
                Failure::Permanent(text)
            } else {
                Failure::Transient(text)
            }
        }
        SdkError::ConstructionFailure(_) => Failure::Permanent(format!("{err:?}")),
        other => Failure::Transient(
            aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
        ),
    }
}

/// Error codes that say the request (or one item of it) is malformed.
pub fn is_invalid_request(code: &str) -> bool {
    matches!(
        code,
        "InvalidInput"
            | "InvalidInputException"
            | "ValidationException"
            | "MalformedDetail"
            | "InvalidArgument"
            | "SerializationException"
            | "FindingSizeExceeded"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
        };
        for attempt in 0..30 {
            assert!(b.delay(attempt) <= Duration::from_millis(50));
        }
        assert!(b.delay(0) <= Duration::from_millis(10));
    }

    #[tokio::test]
    async fn no_wait_past_the_deadline() {
        let b = Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(10),
        };
        // Attempt 5's delay is up to 10 s; with 1 ms left it is refused unless it drew ~0.
        let deadline = Instant::now() + Duration::from_millis(1);
        let started = Instant::now();
        let _ = b.wait(5, deadline).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
