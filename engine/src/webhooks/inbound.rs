//! Inbound partner webhooks (Outstand `post.published`, `post.error`...): routes an update to
//! the deliveries it concerns and settles them from the partner's own answer. A webhook is a
//! hint, never the truth: the post is re-read from the partner (`get_post`, or
//! `find_by_idempotency_key` for a delivery whose submit answer was lost), and only legal,
//! forward transitions are applied, so a late `post.error` never downgrades `published`.

use jiff::SignedDuration;
use schema::WorkspaceScope;
use serde::Serialize;
use tenants::{AccountId, Delivery, DeliveryError, DeliveryEvent, DeliveryState, WorkspaceId};

use crate::api::EngineHandle;
use crate::error::EngineError;
use crate::outbound::{PartnerPost, PartnerStatus};
use crate::workspace::WorkspaceMsg;

/// How far back an account's open deliveries are searched for an update's post.
const LOOKBACK: SignedDuration = SignedDuration::from_hours(8 * 24);

/// What a partner webhook says about one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerUpdate {
    /// The partner's event name (`post.published`, `post.error`...).
    pub event: String,
    /// The partner's post id.
    pub partner_post_id: String,
    /// The partner's ids of the accounts the post targets.
    pub partner_account_ids: Vec<String>,
}

/// What applying an update did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartnerUpdateOutcome {
    /// Deliveries found for the post.
    pub num_matched: usize,
    /// Deliveries moved forward (accepted, published or failed).
    pub num_applied: usize,
}

impl EngineHandle {
    /// Records which of our accounts a partner account id is, so partner webhooks can be routed.
    ///
    /// # Errors
    /// Store failures.
    pub async fn remember_partner_account(
        &self,
        partner_account_id: &str,
        workspace_id: WorkspaceId,
        account_id: AccountId,
    ) -> Result<(), EngineError> {
        let store = &self.inner.ctx.store;
        store
            .put_partner_account_ref(partner_account_id, workspace_id, account_id)
            .await?;
        Ok(())
    }

    /// Applies a partner webhook: finds the open deliveries of its post on the named accounts
    /// and settles each from the partner's answer. Unknown posts and accounts are ignored.
    ///
    /// # Errors
    /// Store failures; partner failures leave the delivery to the reconciler.
    pub async fn apply_partner_update(
        &self,
        update: PartnerUpdate,
    ) -> Result<PartnerUpdateOutcome, EngineError> {
        self.ensure_ready()?;
        let ctx = &self.inner.ctx;
        let mut outcome = PartnerUpdateOutcome::default();
        for partner_account in &update.partner_account_ids {
            let Some((ws, account)) = ctx.store.get_partner_account_ref(partner_account).await?
            else {
                continue;
            };
            let scope = WorkspaceScope::authorized(ws).account(account);
            let now = ctx.now();
            let due = ctx
                .store
                .account_due(scope, now - LOOKBACK, now + LOOKBACK, 1000)
                .await?;
            let mut seen = std::collections::HashSet::new();
            for r in due {
                if !seen.insert(r.delivery_id) {
                    continue;
                }
                let Some(d) = ctx
                    .store
                    .get_delivery(scope.workspace(), r.post_id, r.delivery_id)
                    .await?
                else {
                    continue;
                };
                if !matches!(
                    d.state,
                    DeliveryState::Submitting | DeliveryState::Unconfirmed
                ) {
                    continue;
                }
                let Some(post) = self.partner_answer(&d, &update.partner_post_id).await else {
                    continue;
                };
                outcome.num_matched += 1;
                if self.settle(d, post).await? {
                    outcome.num_applied += 1;
                }
            }
        }
        tracing::info!(
            event = update.event,
            partner_post_id = update.partner_post_id,
            matched = outcome.num_matched,
            applied = outcome.num_applied,
            "partner webhook applied"
        );
        Ok(outcome)
    }

    /// The partner's view of `d` if it is the post `partner_post_id`.
    async fn partner_answer(&self, d: &Delivery, partner_post_id: &str) -> Option<PartnerPost> {
        let partner = &self.inner.ctx.partner;
        let found = match d.partner_post_id.as_deref() {
            Some(id) if id == partner_post_id => partner.get_post(id).await,
            Some(_) => return None,
            None => partner.find_by_idempotency_key(&d.idempotency_key).await,
        };
        match found {
            Ok(Some(post)) if post.partner_post_id == partner_post_id => Some(post),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(delivery_id = %d.id, error = ?e, "partner re-read failed; left to the reconciler");
                None
            }
        }
    }

    /// Moves `d` forward to what the partner says; `true` if anything was written.
    async fn settle(&self, mut d: Delivery, post: PartnerPost) -> Result<bool, EngineError> {
        let ctx = &self.inner.ctx;
        let mut events = Vec::new();
        if d.partner_post_id.as_deref() != Some(post.partner_post_id.as_str()) {
            events.push(DeliveryEvent::Accepted {
                partner_post_id: post.partner_post_id.clone(),
            });
        }
        match post.status {
            PartnerStatus::Published {
                platform_post_id,
                published_at,
            } => {
                events.push(DeliveryEvent::Publish {
                    platform_post_id,
                    published_at,
                });
            }
            PartnerStatus::Failed { code, message } => {
                events.push(DeliveryEvent::Fail(DeliveryError::new(code, message)));
            }
            PartnerStatus::Pending => {}
        }
        let mut applied = false;
        for event in events {
            let Ok(next) = d.apply(&event, ctx.now()) else {
                break;
            };
            let scope = WorkspaceScope::authorized(d.workspace_id).account(d.account_id);
            match ctx.store.transition(scope, d.version, &next).await? {
                schema::CasOutcome::Applied => {
                    d = next;
                    applied = true;
                }
                // Another writer (the account actor) moved it first; it has the news.
                schema::CasOutcome::Conflict(_) => return Ok(applied),
            }
        }
        if applied && d.state.is_terminal() {
            let ws = self
                .inner
                .root
                .workspace(WorkspaceScope::authorized(d.workspace_id))
                .await?;
            ws.send(WorkspaceMsg::PostChanged { post_id: d.post_id });
        }
        Ok(applied)
    }
}
