//! The default mail provider: a slow mail server, simulated.

use std::time::Duration;

use crate::domain::{Email, MailError, MailProvider};

/// Takes `delay` per message, as the seed's mail server does (~3 s), and
/// answers with a message id derived from the event.
#[derive(Debug, Clone)]
pub struct SlowMailServer {
    pub delay: Duration,
}

impl MailProvider for SlowMailServer {
    async fn send(&self, email: &Email, event_id: &str) -> Result<String, MailError> {
        if !email.to.contains('@') {
            return Err(MailError(format!("invalid recipient {:?}", email.to)));
        }
        tokio::time::sleep(self.delay).await;
        tracing::info!(to = %email.to, subject = %email.subject, "email sent");
        Ok(format!("<{event_id}@mail.shopsphere.local>"))
    }
}
