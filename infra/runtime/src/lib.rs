//! What every function binary does at cold start: JSON tracing, one shared AWS
//! SDK configuration, and typed settings read from the environment (so a
//! misconfigured function fails at init, not on its first message).

pub mod dynamodb;

pub use dynamodb::{TableError, Updated, Write, retried};

use std::str::FromStr;
use std::time::Duration;

/// The one boxed error type of the platform crates.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// When the current invocation must be done (epoch ms), from the Lambda context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline(pub Option<i64>);

impl From<&lambda_runtime::Context> for Deadline {
    fn from(ctx: &lambda_runtime::Context) -> Self {
        // `Context::default()` (tests, local invokes) has no deadline.
        Deadline((ctx.deadline > 0).then(|| i64::try_from(ctx.deadline).unwrap_or(i64::MAX)))
    }
}

impl Deadline {
    /// Without a Lambda deadline (tests, tools): this long from now.
    pub const FALLBACK: Duration = Duration::from_secs(60);

    /// The deadline in epoch ms, or `FALLBACK` from `now_ms`.
    pub fn or_fallback(self, now_ms: i64) -> i64 {
        let fallback = i64::try_from(Self::FALLBACK.as_millis()).unwrap_or(i64::MAX);
        self.0.filter(|d| *d > now_ms).unwrap_or(now_ms.saturating_add(fallback))
    }

    /// Time left until the deadline, if there is one.
    pub fn remaining(self, now_ms: i64) -> Option<Duration> {
        self.0.map(|d| Duration::from_millis(u64::try_from(d.saturating_sub(now_ms)).unwrap_or(0)))
    }
}

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The SDK configuration of a function: the default chain (env, profile,
/// container or instance credentials; `AWS_ENDPOINT_URL` for LocalStack), over
/// a rustls client using ring so no build needs aws-lc-sys. A DynamoDB, SNS or
/// SQS call answers in milliseconds (an emulator on a loaded laptop in
/// hundreds), so an attempt that takes 5 s is given up and retried (the SDK's
/// standard retries); the record's own deadline, which the batch processor
/// derives from the invocation's remaining time, bounds them all.
pub async fn sdk_config() -> SdkConfig {
    loader(Duration::from_secs(5)).load().await
}

/// The loader of the tools' configuration (they set more: endpoint, region,
/// credentials), whose attempts may last 25 s: a 20 s SQS long poll.
pub fn config_loader() -> ConfigLoader {
    loader(Duration::from_secs(25))
}

fn loader(attempt_timeout: Duration) -> ConfigLoader {
    let http_client =
        aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    // The SDK waits forever for an answer by default; a request that hangs
    // would then hang its caller.
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(attempt_timeout)
            .build(),
    )
}

/// Structured JSON logs to stdout (CloudWatch picks them up as JSON), level
/// from `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL`, `info` by default.
pub fn init_tracing() {
    json_logs().with_writer(std::io::stdout).init();
}

/// The same logs on stderr, for tools whose stdout is their answer.
pub fn init_tracing_stderr() {
    json_logs().with_writer(std::io::stderr).init();
}

fn json_logs() -> tracing_subscriber::fmt::SubscriberBuilder<
    tracing_subscriber::fmt::format::JsonFields,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json, ()>,
    tracing_subscriber::EnvFilter,
> {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".to_owned());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
}

/// An error with its sources, `outer: inner: root`, for logs: the SDK's own
/// Display of a failed request is only "service error".
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        // Wrappers often repeat their source's message; say it once.
        if !text.ends_with(&part) {
            text = format!("{text}: {part}");
        }
        source = cause.source();
    }
    text
}

/// Ctrl-C or SIGTERM: what the tools (local host, demo) stop on.
pub async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(String),
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid { name: String, value: String, reason: String },
}

/// A required environment variable.
pub fn env_var(name: &str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name.to_owned())),
    }
}

/// An optional, parsed environment variable with a default.
pub fn env_or<T: FromStr>(name: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name: name.to_owned(),
            value: v,
            reason: e.to_string(),
        }),
        _ => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_helpers_report_the_variable() {
        // Variables unique to this test: the process environment is shared.
        assert!(
            matches!(env_var("SHOPSPHERE_TEST_UNSET"), Err(ConfigError::Missing(n)) if n == "SHOPSPHERE_TEST_UNSET")
        );
        assert_eq!(env_or("SHOPSPHERE_TEST_UNSET", 7u32).unwrap(), 7);
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var("SHOPSPHERE_TEST_BAD_NUMBER", "seven") };
        let err = env_or("SHOPSPHERE_TEST_BAD_NUMBER", 7u32).unwrap_err().to_string();
        assert!(err.contains("SHOPSPHERE_TEST_BAD_NUMBER") && err.contains("seven"), "{err}");
    }

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("idempotency store request failed: {0}")]
        Store(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("service error")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn error_chain_names_every_cause_once() {
        let error = Outer::Store(Inner(std::io::Error::other("TransactionConflict: try again")));
        assert_eq!(
            error_chain(&error),
            "idempotency store request failed: service error: TransactionConflict: try again"
        );
    }
}
