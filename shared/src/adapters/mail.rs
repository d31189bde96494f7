//! The mail port's implementations, the same on every runtime: a transactional-mail HTTP API
//! reached through the `Outbound` port, or nowhere (for local use, where no mail API is set: the log says what was dropped).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    config::MailConfig,
    ports::{Mail, MailError, Mailer, Outbound, OutboundError},
};

/// Posts `{"from", "to", "subject", "text"}` as JSON with `Authorization: Bearer <key>`, the
/// shape the common mail APIs accept.
pub struct HttpMailer {
    pub config: MailConfig,
    pub outbound: Arc<dyn Outbound>,
}

#[async_trait]
impl Mailer for HttpMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let MailConfig { endpoint, key, from } = &self.config;
        let body = serde_json::json!({"from": from, "to": [mail.to], "subject": mail.subject, "text": mail.text});
        let request = http::Request::post(endpoint)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Bytes::from(body.to_string()))
            .map_err(|e| OutboundError(e.to_string()))?;
        let response = self.outbound.send(request).await?;
        if !response.status().is_success() {
            return Err(MailError::Refused(response.status()));
        }
        Ok(())
    }
}

/// Drops mail, saying so in the log: to whom and which kind, never the text, which carries a
/// live token that anyone who reads the log could use.
pub struct DroppingMailer;

#[async_trait]
impl Mailer for DroppingMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        tracing::warn!(to = %mail.to, kind = mail.kind, "mail dropped: MAIL_API_URL is not set");
        Ok(())
    }
}

/// The mailer the configuration asks for.
pub fn from_config(mail: Option<&MailConfig>, outbound: Arc<dyn Outbound>) -> Arc<dyn Mailer> {
    match mail {
        Some(config) => Arc::new(HttpMailer { config: config.clone(), outbound }),
        None => Arc::new(DroppingMailer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mail API that answers every request with one status.
    struct Answering(http::StatusCode);

    #[async_trait]
    impl Outbound for Answering {
        async fn send(&self, _: http::Request<Bytes>) -> Result<http::Response<Bytes>, OutboundError> {
            Ok(http::Response::builder().status(self.0).body(Bytes::new()).unwrap_or_default())
        }
    }

    fn mailer(status: u16) -> HttpMailer {
        let config = MailConfig { endpoint: "https://mail.invalid/send".into(), key: "k".into(), from: "us@example.com".into() };
        HttpMailer { config, outbound: Arc::new(Answering(http::StatusCode::from_u16(status).unwrap())) }
    }

    fn mail() -> Mail {
        Mail { kind: "test", to: "ada@example.com".into(), subject: "s".into(), text: "t".into() }
    }

    #[tokio::test]
    async fn a_mail_the_api_refuses_says_its_answer() {
        assert!(mailer(202).send(mail()).await.is_ok());
        let refused = mailer(500).send(mail()).await.unwrap_err();
        assert!(matches!(refused, MailError::Refused(status) if status == 500), "{refused}");
        assert_eq!(refused.to_string(), "the mail API answered 500 Internal Server Error");
    }
}
