//! Endpoint management: create (the secret is returned once and stored sealed with the
//! workspace data key, AAD owner = endpoint id), read, update, delete, secret rotation, test
//! events, the attempt log and resend.

use schema::{
    Page, PageRequest, WebhookAttempt, WebhookEndpoint, WebhookMessageState, WorkspaceScope,
};
use secrecy::{ExposeSecret, SecretString};
use tenants::crypto::{self, SealAad};
use tenants::{Sealed, WebhookId, webhook_signature};
use uuid::Uuid;

use super::target::parse_target;
use super::{EVENT_TYPES, EndpointView, ROTATION_OVERLAP, WebhookHandle};
use crate::error::{EngineError, FieldError};

/// The data key version every sealed value of this engine uses.
const DATA_KEY_VERSION: u32 = 1;

/// An endpoint to create.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Target URL.
    pub url: String,
    /// Event types to receive.
    pub events: Vec<String>,
    /// Note.
    pub description: Option<String>,
}

/// Changes to an endpoint; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    /// New URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// Enable or disable (enabling clears the system's disabled reason).
    pub enabled: Option<bool>,
}

fn invalid(field: &str, message: &str) -> EngineError {
    EngineError::Validation(vec![FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }])
}

fn not_found(id: impl ToString) -> EngineError {
    EngineError::NotFound {
        kind: "webhook",
        id: id.to_string(),
    }
}

fn check_events(events: &[String]) -> Result<(), EngineError> {
    if events.is_empty() {
        return Err(invalid("events", "give at least one event type"));
    }
    for (i, e) in events.iter().enumerate() {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(invalid(&format!("events[{i}]"), "unknown event type"));
        }
    }
    Ok(())
}

pub(crate) fn aad(scope: WorkspaceScope, id: WebhookId) -> SealAad {
    SealAad {
        workspace_id: scope.workspace_id(),
        owner_id: id.as_uuid(),
        key_version: DATA_KEY_VERSION,
    }
}

impl WebhookHandle {
    async fn check_url(&self, raw: &str) -> Result<String, EngineError> {
        let url = parse_target(raw).map_err(|e| invalid("url", &e.to_string()))?;
        super::target::check_target(&url, self.shared.allow_private())
            .await
            .map_err(|e| invalid("url", &e.to_string()))?;
        Ok(url.to_string())
    }

    async fn seal(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
        secret: &str,
    ) -> Result<Sealed, EngineError> {
        let key = self
            .shared
            .vault
            .ensure_data_key(scope, self.shared.clock.now())
            .await
            .map_err(|e| EngineError::Vault(e.to_string()))?;
        Ok(crypto::seal(&key, secret.as_bytes(), &aad(scope, id)))
    }

    /// The secrets that sign now: the current one, plus the previous one during a rotation.
    pub(crate) async fn signing_secrets(
        &self,
        scope: WorkspaceScope,
        e: &WebhookEndpoint,
    ) -> Result<Vec<SecretString>, EngineError> {
        let key = self
            .shared
            .vault
            .ensure_data_key(scope, self.shared.clock.now())
            .await
            .map_err(|e| EngineError::Vault(e.to_string()))?;
        let open = |s: &Sealed| {
            crypto::open_string(&key, s, &aad(scope, e.id))
                .map_err(|e| EngineError::Vault(e.to_string()))
        };
        let mut out = vec![open(&e.secret)?];
        if let (Some(prev), Some(until)) = (&e.previous_secret, e.previous_until) {
            if until > self.shared.clock.now() {
                out.push(open(prev)?);
            }
        }
        Ok(out)
    }

    async fn load(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
    ) -> Result<WebhookEndpoint, EngineError> {
        self.shared
            .store
            .get_webhook(scope, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Creates an endpoint. Returns it with its `whsec_` secret, which is never shown again.
    ///
    /// # Errors
    /// [`EngineError::Validation`] for a refused URL or unknown event types; store and vault
    /// failures.
    pub async fn create(
        &self,
        scope: WorkspaceScope,
        new: NewEndpoint,
    ) -> Result<(EndpointView, SecretString), EngineError> {
        let url = self.check_url(&new.url).await?;
        check_events(&new.events)?;
        let id = WebhookId::new();
        let secret = SecretString::from(webhook_signature::generate_secret());
        let now = self.shared.clock.now();
        let endpoint = WebhookEndpoint {
            id,
            workspace_id: scope.workspace_id(),
            url,
            events: new.events,
            description: new.description,
            enabled: true,
            disabled_reason: None,
            secret: self.seal(scope, id, secret.expose_secret()).await?,
            previous_secret: None,
            previous_until: None,
            created_at: now,
            updated_at: now,
        };
        self.shared.store.put_webhook(scope, &endpoint).await?;
        Ok((endpoint.into(), secret))
    }

    /// Reads an endpoint.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; store failures.
    pub async fn get(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
    ) -> Result<EndpointView, EngineError> {
        self.load(scope, id).await.map(Into::into)
    }

    /// The workspace's endpoints.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list(&self, scope: WorkspaceScope) -> Result<Vec<EndpointView>, EngineError> {
        let all = self.shared.store.list_webhooks(scope).await?;
        Ok(all.into_iter().map(Into::into).collect())
    }

    /// Changes an endpoint's URL, events or enabled flag.
    ///
    /// # Errors
    /// As [`WebhookHandle::create`], plus [`EngineError::NotFound`].
    pub async fn update(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
        patch: EndpointPatch,
    ) -> Result<EndpointView, EngineError> {
        let mut e = self.load(scope, id).await?;
        if let Some(url) = patch.url {
            e.url = self.check_url(&url).await?;
        }
        if let Some(events) = patch.events {
            check_events(&events)?;
            e.events = events;
        }
        if let Some(enabled) = patch.enabled {
            e.enabled = enabled;
            if enabled {
                e.disabled_reason = None;
            }
        }
        e.updated_at = self.shared.clock.now();
        self.shared.store.put_webhook(scope, &e).await?;
        Ok(e.into())
    }

    /// Deletes an endpoint; its pending messages fail at their next attempt.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; store failures.
    pub async fn delete(&self, scope: WorkspaceScope, id: WebhookId) -> Result<(), EngineError> {
        self.load(scope, id).await?;
        self.shared.store.delete_webhook(scope, id).await?;
        Ok(())
    }

    /// Replaces the secret. The old one keeps signing (a second `v1,` entry) for 24 h.
    /// Returns the new secret, shown once.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; store and vault failures.
    pub async fn rotate_secret(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
    ) -> Result<SecretString, EngineError> {
        let mut e = self.load(scope, id).await?;
        let secret = SecretString::from(webhook_signature::generate_secret());
        let now = self.shared.clock.now();
        e.previous_secret = Some(std::mem::replace(
            &mut e.secret,
            self.seal(scope, id, secret.expose_secret()).await?,
        ));
        e.previous_until = Some(now + ROTATION_OVERLAP);
        e.updated_at = now;
        self.shared.store.put_webhook(scope, &e).await?;
        Ok(secret)
    }

    /// Queues a `test` event for this endpoint only. Returns the delivery id.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; store failures.
    pub async fn send_test(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
    ) -> Result<Uuid, EngineError> {
        let e = self.load(scope, id).await?;
        let data = serde_json::json!({ "message": "test event", "endpoint_id": id });
        let envelope =
            super::fanout::envelope(scope.workspace_id(), "test", self.shared.clock.now(), data);
        super::fanout::enqueue(&self.shared, scope, &e, &envelope).await
    }

    /// The endpoint's attempts, newest first.
    ///
    /// # Errors
    /// [`EngineError::NotFound`]; store failures (a bad cursor is a store error).
    pub async fn deliveries(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
        page: PageRequest,
    ) -> Result<Page<WebhookAttempt>, EngineError> {
        self.load(scope, id).await?;
        Ok(self
            .shared
            .store
            .list_webhook_attempts(scope, id, page)
            .await?)
    }

    /// Sends a delivery again now, with a fresh retry schedule and the same event id.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] for an unknown endpoint or delivery; store failures.
    pub async fn resend(
        &self,
        scope: WorkspaceScope,
        id: WebhookId,
        delivery_id: Uuid,
    ) -> Result<(), EngineError> {
        self.load(scope, id).await?;
        let mut m = self
            .shared
            .store
            .get_webhook_message(scope, id, delivery_id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                kind: "delivery",
                id: delivery_id.to_string(),
            })?;
        let now = self.shared.clock.now();
        m.state = WebhookMessageState::Pending;
        m.num_attempts = 0;
        m.next_attempt_at = Some(now);
        m.updated_at = now;
        self.shared.store.put_webhook_message(scope, &m).await?;
        self.shared.hand_over(schema::WebhookDueRef {
            due_at: now,
            workspace_id: m.workspace_id,
            endpoint_id: m.endpoint_id,
            message_id: m.id,
        });
        Ok(())
    }
}
