//! Emails to customers over SMTP, from a durable outbox.
//!
//! The notifications are the webhooks' ([`crate::outbox::notifications`]):
//! confirmed, shipped, out for delivery, delivered, each failed attempt,
//! return received, refunded. An order taken in with the customer's
//! `email` queues each one for that address in the same transaction as the
//! changes that caused it, once per notification key, however often the
//! order is projected. [`run`] sends what is due, each message written when
//! it is sent from the order as it is then: out for delivery carries the
//! ETA window, every message the tracking link. An accepted message is
//! written down before the next; a refusal or a lost link is retried after
//! 1, 2, 4 … seconds (at most an hour apart) and given up after
//! [`crate::outbox::MAX_ATTEMPTS`]; one order's emails go one at a time, in
//! order. An email queued more than [`MAX_AGE_HOURS`] ago is not sent.
//! Several nodes may run it: each email is claimed first, as webhook
//! deliveries are.
//!
//! Templates: each topic has a built-in text; a file `<topic>.txt` in the
//! templates folder (`<data>/templates` unless set) replaces it. Its first
//! line is `Subject: ...`, then a blank line, then the body. `{order}`,
//! `{customer}`, `{status}`, `{reason}`, `{link}`, `{eta}` and `{next}`
//! are filled in;
//! any other `{word}` is refused when the server starts, naming the file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use waybill_shared::id::OrderId;

use crate::server::Shared;
use crate::storage::StorageError;
use crate::storage::mail::DueMail;
use crate::storage::outbox::Queue;
use crate::tracking::{self, Tracking};

/// An email queued longer ago than this is not sent (say SMTP was set up
/// only later): it is marked given up.
pub const MAX_AGE_HOURS: i64 = 48;

/// Emails sent at once per pass.
const BATCH: i64 = 16;

/// How long a node holds an email it claimed: beyond a send's timeout.
const LEASE_SECS: i64 = 60;

/// What fills a template.
const PLACES: &[&str] = &["order", "customer", "status", "reason", "link", "eta", "next"];

/// The built-in templates, by topic.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "order.confirmed",
        "Subject: Your order {order} is confirmed\n\nHello {customer},\n\nThank you: we have your order {order} and are getting it ready.\nFollow it here: {link}\n",
    ),
    (
        "order.shipped",
        "Subject: Your order {order} is on its way\n\nHello {customer},\n\nYour order {order} has left our warehouse.\nFollow it here: {link}\n",
    ),
    (
        "order.out_for_delivery",
        "Subject: Your order {order} arrives today\n\nHello {customer},\n\nYour order {order} is out for delivery. Expected {eta}.\nFollow the van here: {link}\n",
    ),
    (
        "order.delivered",
        "Subject: Your order {order} was delivered\n\nHello {customer},\n\nYour order {order} was delivered. {status}.\nThe proof of delivery: {link}\n",
    ),
    (
        "order.attempt_failed",
        "Subject: We could not deliver your order {order}\n\nHello {customer},\n\nWe tried to deliver your order {order} but could not: {reason}.\n{next}\nFollow it here: {link}\n",
    ),
    (
        "order.return_received",
        "Subject: We received your return for {order}\n\nHello {customer},\n\nThe goods you sent back from order {order} have arrived. We will refund you shortly.\n{link}\n",
    ),
    (
        "order.refunded",
        "Subject: Your refund for {order}\n\nHello {customer},\n\nWe have refunded you for order {order}.\n{link}\n",
    ),
];

/// Why mail cannot be set up or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP address does not read.
    #[error(
        "the SMTP address {url}: {error} (write smtp://host:port, smtps://user:pass@host, or smtp://host:587?tls=required)"
    )]
    Smtp {
        /// The address given.
        url: String,
        /// Why.
        error: String,
    },
    /// The sender is not an email address.
    #[error(
        "the sender {0:?} is not an email address (write \"Name <name@example.com>\" or name@example.com)"
    )]
    From(String),
    /// A template file is wrong.
    #[error("template {path}: {error}")]
    Template {
        /// The file.
        path: String,
        /// What is wrong.
        error: String,
    },
}

/// A template: subject and body with places to fill.
#[derive(Debug, Clone)]
struct Template {
    subject: String,
    body: String,
}

impl Template {
    fn parse(text: &str) -> Result<Self, String> {
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let subject =
            first.strip_prefix("Subject:").ok_or("the first line must be `Subject: ...`")?.trim().to_owned();
        let body = rest.strip_prefix('\n').or_else(|| rest.strip_prefix("\r\n")).unwrap_or(rest).to_owned();
        for word in places(&subject).chain(places(&body)) {
            if !PLACES.contains(&word) {
                return Err(format!("{{{word}}} is not something a message can say; use {}", list()));
            }
        }
        Ok(Self { subject, body })
    }

    /// The subject and body with each place filled, in one pass: a value
    /// that itself reads `{link}` stays as it is.
    fn fill(&self, values: &BTreeMap<&str, String>) -> (String, String) {
        let fill = |text: &str| {
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            while let Some(open) = rest.find('{') {
                out.push_str(&rest[..open]);
                let after = &rest[open + 1..];
                match after.split_once('}').and_then(|(word, tail)| Some((values.get(word)?, tail))) {
                    Some((value, tail)) => {
                        out.push_str(value);
                        rest = tail;
                    }
                    None => {
                        out.push('{');
                        rest = after;
                    }
                }
            }
            out.push_str(rest);
            out
        };
        (fill(&self.subject), fill(&self.body))
    }
}

fn list() -> String {
    PLACES.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ")
}

/// The `{word}`s in `text`.
fn places(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|rest| {
        let word = rest.split_once('}')?.0;
        (!word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(word)
    })
}

/// Sends customers' emails: the SMTP server, the sender, where links
/// point and the templates.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
    templates: BTreeMap<String, Template>,
}

impl Mailer {
    /// A mailer sending through `smtp` (a URL: `smtp://host:port`,
    /// `smtps://user:pass@host`, `smtp://host?tls=required`) as `from`,
    /// with links on `public_url` (the office page's address as customers
    /// reach it) and the templates in `templates` (built-in where none).
    pub fn new(smtp: &str, from: &str, public_url: &str, templates: &Path) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp)
            .map_err(|e| MailError::Smtp { url: smtp.to_owned(), error: e.to_string() })?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from: Mailbox = from.parse().map_err(|_| MailError::From(from.to_owned()))?;
        let mut found = BTreeMap::new();
        for (topic, text) in BUILT_IN {
            let path = templates.join(format!("{topic}.txt"));
            let (text, source) = match std::fs::read_to_string(&path) {
                Ok(own) => (own, path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    ((*text).to_owned(), format!("built-in {topic}"))
                }
                Err(e) => {
                    return Err(MailError::Template {
                        path: path.display().to_string(),
                        error: e.to_string(),
                    });
                }
            };
            let template =
                Template::parse(&text).map_err(|error| MailError::Template { path: source, error })?;
            found.insert((*topic).to_owned(), template);
        }
        Ok(Self {
            transport,
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
            templates: found,
        })
    }

    /// The message for `topic` about the order as `view` shows it.
    fn message(&self, topic: &str, to: &str, view: &Tracking) -> Result<Message, String> {
        let template = self.templates.get(topic).ok_or_else(|| format!("no template for {topic}"))?;
        let eta = view.eta.map_or_else(
            || "today".to_owned(),
            |w| {
                let (from, to) = (w.from.with_timezone(&view.zone), w.to.with_timezone(&view.zone));
                format!("between {} and {} ({})", from.format("%H:%M"), to.format("%H:%M"), to.format("%Z"))
            },
        );
        let status = view.delivered.as_ref().map_or_else(|| view.status.clone(), |d| d.taken_by.clone());
        let next = "We will try again on the next delivery day, or you can arrange another time by answering this email.";
        let values = BTreeMap::from([
            ("order", view.order.to_string()),
            ("customer", view.customer.clone()),
            ("status", status),
            ("reason", view.failure.clone().unwrap_or_else(|| "we could not reach you".to_owned())),
            ("link", format!("{}{}", self.public_url, view.link)),
            ("eta", eta),
            ("next", next.to_owned()),
        ]);
        let (subject, body) = template.fill(&values);
        let to: Mailbox = to.parse().map_err(|_| format!("{to:?} is not an email address"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| e.to_string())
    }
}

/// Sends the email outbox until the server stops: wakes on every stored
/// change and at least once a second.
pub async fn run(shared: Arc<Shared>, mailer: Mailer) {
    let mailer = Arc::new(mailer);
    let mut changes = shared.changes.subscribe();
    loop {
        let round = tokio::time::Instant::now();
        match shared.storage.due_mail(&Utc::now().to_rfc3339(), BATCH).await {
            Ok(list) => {
                let full = list.len() as i64 >= BATCH;
                // One order's emails in the order they were queued (shipped
                // before out for delivery); orders beside each other.
                let mut by_order: BTreeMap<String, Vec<DueMail>> = BTreeMap::new();
                for due in list {
                    by_order.entry(due.order.clone()).or_default().push(due);
                }
                let mut sends = tokio::task::JoinSet::new();
                for (_, emails) in by_order {
                    let (shared, mailer) = (shared.clone(), mailer.clone());
                    // An order's next email waits until the one before it
                    // has gone.
                    sends.spawn(async move {
                        let mut went = false;
                        for due in emails {
                            if send(shared.clone(), mailer.clone(), due).await != Sent::Yes {
                                break;
                            }
                            went = true;
                        }
                        went
                    });
                }
                let mut any = false;
                while let Some(went) = sends.join_next().await {
                    any |= went.unwrap_or(false);
                }
                // A full batch that sent something: more may be due now.
                if full && any {
                    continue;
                }
            }
            Err(e) => tracing::error!(error = %e, "mail: reading the outbox failed"),
        }
        crate::outbox::next_round(&mut changes, round).await;
    }
}

/// How one email went.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Yes,
    /// Not sent: tried again later, given up, or another node has it.
    No,
}

async fn send(shared: Arc<Shared>, mailer: Arc<Mailer>, due: DueMail) -> Sent {
    let now = Utc::now();
    let until = (now + chrono::Duration::seconds(LEASE_SECS)).to_rfc3339();
    match shared.storage.claim(Queue::Mail, due.id, due.attempts, &due.next_at, &until).await {
        Ok(()) => {}
        Err(StorageError::Conflict) => return Sent::No,
        Err(e) => {
            tracing::error!(error = %e, key = %due.key, "mail: claiming an email failed");
            return Sent::No;
        }
    }
    let stale = due
        .created_at
        .parse::<DateTime<Utc>>()
        .is_ok_and(|queued| now - queued > chrono::Duration::hours(MAX_AGE_HOURS));
    let error = if stale {
        // Queued while no SMTP server was set, long ago: news no more.
        Some(format!("not sent: queued more than {MAX_AGE_HOURS} hours ago"))
    } else {
        match compose(&shared, &mailer, &due, now).await {
            Ok(message) => mailer.transport.send(message).await.err().map(|e| format!("SMTP: {e}")),
            Err(e) => Some(e),
        }
    };
    let (written, sent) = match error {
        None => (shared.storage.sent(Queue::Mail, due.id, &now.to_rfc3339()).await, Sent::Yes),
        Some(error) => {
            let attempts = due.attempts + 1;
            tracing::warn!(key = %due.key, to = %due.recipient, attempts, %error, "email not sent");
            let (next, gave_up) = crate::outbox::next_try(attempts, now);
            let failed = (stale || gave_up).then(|| now.to_rfc3339());
            let written =
                shared.storage.not_sent(Queue::Mail, due.id, attempts, &next, &error, failed.as_deref());
            (written.await, Sent::No)
        }
    };
    if let Err(e) = written {
        tracing::error!(error = %e, key = %due.key, "mail: recording an email failed");
    }
    sent
}

async fn compose(
    shared: &Shared,
    mailer: &Mailer,
    due: &DueMail,
    now: DateTime<Utc>,
) -> Result<Message, String> {
    let order: OrderId = due.order.parse().map_err(|e| format!("order {}: {e}", due.order))?;
    let view = tracking::current(shared, &order, now)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no order {order}"))?;
    mailer.message(&due.topic, &due.recipient, &view)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_built_in_template_reads_and_an_unknown_place_is_refused_by_name() {
        for (topic, text) in BUILT_IN {
            let t = Template::parse(text).unwrap_or_else(|e| panic!("{topic}: {e}"));
            assert!(t.subject.contains("{order}"), "{topic}");
        }
        assert_eq!(crate::outbox::TOPICS.len(), BUILT_IN.len(), "a topic without a template");
        let e = Template::parse("Subject: Hi {name}\n\nBody").unwrap_err();
        assert!(e.contains("{name}") && e.contains("{order}"), "{e}");
        assert!(Template::parse("Hi\n\nBody").unwrap_err().contains("Subject"));
    }

    #[test]
    fn a_template_fills_each_place_and_leaves_other_braces() {
        let t = Template::parse("Subject: Order {order}\n\nDear {customer}, {not a place} {link}").unwrap();
        let values = BTreeMap::from([
            ("order", "SO-1".to_owned()),
            ("customer", "Ada".to_owned()),
            ("link", "http://x/track/SO-1/k".to_owned()),
        ]);
        let (subject, body) = t.fill(&values);
        assert_eq!(subject, "Order SO-1");
        assert_eq!(body, "Dear Ada, {not a place} http://x/track/SO-1/k");
        // A value is not filled again.
        let values = BTreeMap::from([("order", "SO-1".to_owned()), ("customer", "{link}".to_owned())]);
        let (_, body) = t.fill(&values);
        assert_eq!(body, "Dear {link}, {not a place} {link}");
    }

    #[test]
    fn a_templates_folder_replaces_a_built_in_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("order.shipped.txt"), "Subject: Shipped: {order}\n\nOn its way.\n")
            .unwrap();
        let m = Mailer::new("smtp://127.0.0.1:2525", "Depot <depot@example.com>", "http://x/", dir.path())
            .unwrap();
        assert_eq!(m.templates["order.shipped"].subject, "Shipped: {order}");
        assert_eq!(m.public_url, "http://x");
        std::fs::write(dir.path().join("order.refunded.txt"), "Subject: {amount}\n\n").unwrap();
        let e =
            Mailer::new("smtp://127.0.0.1:2525", "depot@example.com", "http://x", dir.path()).err().unwrap();
        assert!(e.to_string().contains("order.refunded.txt") && e.to_string().contains("{amount}"), "{e}");
        let e = Mailer::new("smtp://127.0.0.1:2525", "not an address", "http://x", Path::new("/nowhere"))
            .err()
            .unwrap();
        assert!(matches!(e, MailError::From(_)), "{e}");
        let e = Mailer::new("http://127.0.0.1", "a@b.c", "http://x", Path::new("/nowhere")).err().unwrap();
        assert!(matches!(e, MailError::Smtp { .. }), "{e}");
    }
}
