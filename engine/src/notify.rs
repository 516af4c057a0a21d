//! Transactional email: a worker that turns engine events and explicit requests into emails sent
//! over SMTP. It mails a workspace's owners when an account needs reconnecting and when a post
//! failed to publish; the gateway asks it (through [`EngineHandle::notify`]) to mail an export
//! link, an erasure confirmation and policy notices.
//!
//! Only transactional email exists: [`Notification`] has no marketing kind, so nothing can be
//! sent for marketing whatever a person's consent says. Each recipient gets their own message
//! (no address is disclosed to another owner). Sending is best effort: a failure is logged (with
//! no address in the line) and never blocks the engine.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use schema::{PageRequest, Store, WorkspaceScope};
use tenants::{Role, UserId};
use tokio::sync::{broadcast, mpsc};

use crate::api::EngineHandle;
use crate::error::EngineError;
use crate::events::{EngineEvent, EventKind};

/// Where transactional email goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// SMTP relay host.
    pub host: String,
    /// Its port (25, 587, or the sandbox sink's).
    pub port: u16,
    /// The sender address (`SocialCRM <no-reply@example.com>`).
    pub from: String,
}

/// Who receives a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// Every owner of a workspace who has an email address.
    WorkspaceOwners(WorkspaceScope),
    /// One person, at their recorded email address.
    User(UserId),
    /// An address given by the caller (a person already erased has no row to read it from).
    Address(String),
    /// Every person of the instance who has an email address.
    AllUsers,
}

/// A transactional email to send. There is deliberately no marketing kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A data export is ready to download.
    ExportReady {
        /// Who asked for it.
        to: Recipient,
        /// Where to download it (a signed-in page).
        download_url: String,
    },
    /// An erasure took effect; the purge completes by `purge_by`.
    ErasureConfirmed {
        /// Who asked for it.
        to: Recipient,
        /// When every trace is purged at the latest.
        purge_by: Timestamp,
    },
    /// A change of the privacy policy or terms.
    PolicyNotice {
        /// Usually [`Recipient::AllUsers`].
        to: Recipient,
        /// Its title.
        title: String,
        /// Its text.
        body: String,
        /// When it takes effect.
        effective_at: Timestamp,
    },
}

/// One composed email.
struct Mail {
    to: Recipient,
    subject: String,
    body: String,
}

/// The running worker's inbox.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    tx: mpsc::Sender<Notification>,
}

impl Notifier {
    /// Starts the worker: it follows `events` and the inbox until both close.
    pub(crate) fn start(
        config: SmtpConfig,
        store: Arc<dyn Store>,
        events: broadcast::Receiver<EngineEvent>,
    ) -> Notifier {
        let (tx, rx) = mpsc::channel(1024);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(Duration::from_secs(15)))
            .build();
        let worker = Worker {
            from: config.from,
            transport,
            store,
        };
        crate::runtime::spawn(worker.run(events, rx));
        Notifier { tx }
    }
}

struct Worker {
    from: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    store: Arc<dyn Store>,
}

impl Worker {
    async fn run(
        self,
        mut events: broadcast::Receiver<EngineEvent>,
        mut inbox: mpsc::Receiver<Notification>,
    ) {
        loop {
            let mail = tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => from_event(&event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(num_missed = n, "notifier missed events");
                        None
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                request = inbox.recv() => match request {
                    Some(n) => Some(from_request(n)),
                    None => break,
                },
            };
            if let Some(mail) = mail {
                self.deliver(mail).await;
            }
        }
    }

    async fn deliver(&self, mail: Mail) {
        let addresses = match self.addresses(&mail.to).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "notification recipients could not be read");
                return;
            }
        };
        for address in addresses {
            if let Err(e) = self.send(&address, &mail).await {
                tracing::warn!(error = %e, subject = %mail.subject, "email not sent");
            }
        }
    }

    async fn send(&self, to: &str, mail: &Mail) -> Result<(), EngineError> {
        let bad = |e: String| EngineError::Unavailable(format!("email: {e}"));
        let message = Message::builder()
            .from(self.from.parse().map_err(|_| bad("bad sender".into()))?)
            .to(to
                .parse()
                .map_err(|_| bad("bad recipient address".into()))?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| bad(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| bad(e.to_string()))?;
        tracing::info!(subject = %mail.subject, "email sent");
        Ok(())
    }

    async fn addresses(&self, to: &Recipient) -> Result<Vec<String>, EngineError> {
        let store = &self.store;
        let mut out = Vec::new();
        match to {
            Recipient::Address(a) => out.push(a.clone()),
            Recipient::User(id) => {
                if let Some(u) = store.get_user(*id).await? {
                    out.extend(u.email.filter(|_| u.deletion_requested_at.is_none()));
                }
            }
            Recipient::WorkspaceOwners(scope) => {
                let mut page = PageRequest::first(500);
                loop {
                    let members = store.list_members(*scope, page.clone()).await?;
                    for m in members.items.iter().filter(|m| m.role == Role::Owner) {
                        if let Some(u) = store.get_user(m.user_id).await? {
                            out.extend(u.email.filter(|_| u.deletion_requested_at.is_none()));
                        }
                    }
                    match members.next_cursor {
                        Some(c) => page.cursor = Some(c),
                        None => break,
                    }
                }
            }
            Recipient::AllUsers => {
                let mut page = PageRequest::first(500);
                loop {
                    let users = store.list_users(page.clone()).await?;
                    out.extend(
                        users
                            .items
                            .into_iter()
                            .filter(|u| u.deletion_requested_at.is_none())
                            .filter_map(|u| u.email),
                    );
                    match users.next_cursor {
                        Some(c) => page.cursor = Some(c),
                        None => break,
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// The email an engine event calls for, if any.
fn from_event(event: &EngineEvent) -> Option<Mail> {
    let to = Recipient::WorkspaceOwners(WorkspaceScope::authorized(event.workspace_id));
    let reason = event.reason.as_deref().unwrap_or("no reason was given");
    match event.kind {
        EventKind::AccountNeedsReconnect => Some(Mail {
            to,
            subject: "A connected account needs reconnecting".to_owned(),
            body: format!(
                "The platform refused the access of account {} in workspace {} ({reason}).\n\
                 Nothing is published to it until a person reconnects it.\n",
                event.account_id.map(|a| a.to_string()).unwrap_or_default(),
                event.workspace_id
            ),
        }),
        EventKind::PostFailed => Some(Mail {
            to,
            subject: "A post failed to publish".to_owned(),
            body: format!(
                "Post {} in workspace {} could not be published: {reason}.\n",
                event.post_id.map(|p| p.to_string()).unwrap_or_default(),
                event.workspace_id
            ),
        }),
        _ => None,
    }
}

fn from_request(n: Notification) -> Mail {
    match n {
        Notification::ExportReady { to, download_url } => Mail {
            to,
            subject: "Your data export is ready".to_owned(),
            body: format!(
                "The export you asked for is ready. Sign in and download it from {download_url}.\n"
            ),
        },
        Notification::ErasureConfirmed { to, purge_by } => Mail {
            to,
            subject: "Your data was erased".to_owned(),
            body: format!(
                "Your erasure request took effect. Every remaining trace is purged by {purge_by}.\n"
            ),
        },
        Notification::PolicyNotice {
            to,
            title,
            body,
            effective_at,
        } => Mail {
            to,
            subject: format!("Policy change: {title}"),
            body: format!("{body}\n\nThis change takes effect on {effective_at}.\n"),
        },
    }
}

impl EngineHandle {
    /// Queues a transactional email. Without SMTP configured it is dropped (logged at debug).
    ///
    /// # Errors
    /// [`EngineError::Unavailable`] when the queue is full or the worker stopped.
    pub fn notify(&self, notification: Notification) -> Result<(), EngineError> {
        let Some(notifier) = self.inner.notifier.get() else {
            tracing::debug!("no smtp configured; notification dropped");
            return Ok(());
        };
        notifier
            .tx
            .try_send(notification)
            .map_err(|e| EngineError::Unavailable(format!("notification queue: {e}")))
    }

    /// Starts the notification worker once (the first call wins).
    pub(crate) fn start_notifier(&self, config: SmtpConfig) {
        let ctx = &self.inner.ctx;
        let events = ctx.events.subscribe();
        let store = ctx.store.clone();
        let _ = self
            .inner
            .notifier
            .get_or_init(|| Notifier::start(config, store, events));
    }
}
