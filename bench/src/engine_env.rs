//! The engine benchmarks' test bed: an embedded redb store in a temp dir, the sandbox partner on
//! 127.0.0.1:0, bulk provisioning of workspaces, accounts (with real sandbox OAuth tokens sealed
//! in the engine's vault) and scheduled deliveries written straight to the store, and the real
//! engine started over all of it, so start-up recovery activates the accounts and arms timers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use engine::adapters::{OutstandPartner, VaultCredentials};
use engine::outbound::{Partner, PartnerError, PartnerPost, PublishRequest, RateHint};
use engine::partner::{
    OAuthApp, OutstandClient, PartnerHttp, Pkce, PlatformOAuthClient, TokenResponse,
};
use engine::vault::{ClearTokens, TokenVault};
use engine::{Engine, EngineHandle, EngineTuning};
use jiff::Timestamp;
use schema::{RedbStore, Store, WorkspaceScope};
use secrecy::SecretString;
use tenants::{
    AccountId, AccountStatus, ConnectedAccount, Delivery, DeliveryId, DeliveryState, MasterKeyring,
    Membership, Platform, Post, PostId, PostStatus, Role, SharedClock, SystemClock, UserId,
    Workspace, WorkspaceId,
};
use tokio::task::JoinSet;

/// The platform every benchmark account is on: text posts, 150 publishes per account per day.
pub const PLATFORM: Platform = Platform::Linkedin;
const CLIENT_ID: &str = "socialcrm-bench";
const API_KEY: &str = "sandbox-outstand-key";
/// Store writes kept in flight while bulk loading (the store group-commits them).
const WRITE_CONCURRENCY: usize = 512;
/// OAuth flows kept in flight against the sandbox.
const OAUTH_CONCURRENCY: usize = 64;

/// One account the benchmark provisioned.
#[derive(Debug, Clone, Copy)]
pub struct BenchAccount {
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// The account.
    pub account_id: AccountId,
}

/// Opens (creating and migrating) the redb store at `path`.
pub async fn open_store(path: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(Arc::new(open_redb(path).await?))
}

/// [`open_store`] as the embedded store itself, whose writer counts its commits.
pub async fn open_redb(path: &Path) -> anyhow::Result<RedbStore> {
    let store = RedbStore::open(path)?;
    store.migrate().await?;
    Ok(store)
}

/// Runs `jobs` with at most `limit` in flight, failing on the first error.
pub async fn bounded<F>(limit: usize, jobs: impl IntoIterator<Item = F>) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut set = JoinSet::new();
    for job in jobs {
        set.spawn(job);
        if set.len() >= limit {
            set.join_next().await.context("bulk task")???;
        }
    }
    while let Some(res) = set.join_next().await {
        res??;
    }
    Ok(())
}

/// Creates `num_accounts` accounts spread over workspaces of `per_workspace` accounts each. With a
/// `vault` and `oauth`, every account gets its own platform grant from the sandbox's OAuth flow,
/// sealed in the vault exactly as `connect_account` would; without, accounts carry no tokens
/// (enough for scenarios that never publish).
pub async fn provision_accounts(
    store: &Arc<dyn Store>,
    num_accounts: usize,
    per_workspace: usize,
    tokens: Option<(&Arc<TokenVault>, &PlatformOAuthClient)>,
) -> anyhow::Result<Vec<BenchAccount>> {
    let now = Timestamp::now();
    let num_workspaces = num_accounts.div_ceil(per_workspace.max(1));
    let workspaces: Vec<WorkspaceId> = (0..num_workspaces).map(|_| WorkspaceId::new()).collect();
    let jobs = workspaces.iter().map(|&id| {
        let store = Arc::clone(store);
        let vault = tokens.map(|(v, _)| Arc::clone(v));
        async move {
            store
                .create_workspace(&workspace(id, now), &owner(id, now))
                .await?;
            if let Some(vault) = vault {
                vault
                    .ensure_data_key(WorkspaceScope::authorized(id), now)
                    .await?;
            }
            Ok(())
        }
    });
    bounded(WRITE_CONCURRENCY, jobs).await?;
    let accounts: Vec<BenchAccount> = (0..num_accounts)
        .map(|i| BenchAccount {
            workspace_id: workspaces[i / per_workspace.max(1)],
            account_id: AccountId::new(),
        })
        .collect();
    let limit = if tokens.is_some() {
        OAUTH_CONCURRENCY
    } else {
        WRITE_CONCURRENCY
    };
    let jobs = accounts.iter().map(|a| {
        let a = *a;
        let store = Arc::clone(store);
        let tokens = tokens.map(|(v, o)| (Arc::clone(v), o.clone()));
        async move {
            let scope = WorkspaceScope::authorized(a.workspace_id);
            let mut record = account(a, now);
            if let Some((vault, oauth)) = tokens {
                let resp = grant(&oauth).await?;
                let clear = ClearTokens::from_response(&resp, Timestamp::now());
                vault
                    .store_grant(scope.account(a.account_id), &clear, Timestamp::now())
                    .await?;
                let user = resp.user.context("the sandbox returned no user")?;
                record.platform_user_id = user.id.clone();
                record.partner_account_id = Some(user.id);
                record.access_expires_at = clear.access_expires_at;
            }
            store.put_account(scope, &record).await?;
            Ok(())
        }
    });
    bounded(limit, jobs).await?;
    Ok(accounts)
}

/// Writes one single-account post per due time, account `i % accounts.len()` for the `i`-th,
/// straight to the store (as a CSV import would leave them). Returns the deliveries written.
pub async fn write_deliveries(
    store: &Arc<dyn Store>,
    accounts: &[BenchAccount],
    due: &[Timestamp],
) -> anyhow::Result<Vec<(BenchAccount, PostId, DeliveryId, Timestamp)>> {
    let now = Timestamp::now();
    let mut written = Vec::with_capacity(due.len());
    let mut jobs = Vec::with_capacity(due.len());
    for (i, &due_at) in due.iter().enumerate() {
        let a = accounts[i % accounts.len()];
        let (post, delivery) =
            post_with_delivery(a.workspace_id, a.account_id, PLATFORM, due_at, now);
        written.push((a, post.id, delivery.id, due_at));
        let store = Arc::clone(store);
        jobs.push(async move {
            let scope = WorkspaceScope::authorized(a.workspace_id);
            store.create_post(scope, &post, &[delivery]).await?;
            Ok(())
        });
    }
    bounded(WRITE_CONCURRENCY, jobs).await?;
    Ok(written)
}

/// Starts the real engine (system clock, real Outstand and OAuth clients, the vault) on `store`.
/// `sandbox_base` is the partner's base URL.
pub async fn start_engine(
    store: Arc<dyn Store>,
    vault: Arc<TokenVault>,
    sandbox_base: &str,
    tuning: EngineTuning,
    http: PartnerHttp,
) -> anyhow::Result<Engine> {
    let clock: SharedClock = Arc::new(SystemClock);
    let timeout = Duration::from_secs(30);
    let client = OutstandClient::over(
        &format!("{sandbox_base}/outstand/v1"),
        SecretString::from(API_KEY),
        timeout,
        http,
    )?;
    let partner: Arc<dyn Partner> =
        Arc::new(UnpacedPartner(OutstandPartner::new(client, clock.clone())));
    let credentials = Arc::new(VaultCredentials::new(
        vault,
        oauth_client(sandbox_base, timeout)?,
        clock.clone(),
    ));
    let engine = Engine::start_with(tuning, None, store, clock, partner, credentials).await?;
    Ok(engine)
}

/// The vault over `store` with a fresh master keyring.
pub fn vault(store: &Arc<dyn Store>) -> anyhow::Result<Arc<TokenVault>> {
    let keyring = MasterKeyring::generate("bench-master")?;
    Ok(Arc::new(TokenVault::new(
        Arc::clone(store),
        Arc::new(keyring),
    )))
}

/// The OAuth client for every platform served by the sandbox at `base`.
pub fn oauth_client(base: &str, timeout: Duration) -> anyhow::Result<PlatformOAuthClient> {
    let apps = Platform::ALL
        .into_iter()
        .map(|p| {
            let app = OAuthApp::under(
                &format!("{base}/oauth/{p}"),
                CLIENT_ID,
                SecretString::from("secret"),
            )?;
            Ok((p, app))
        })
        .collect::<anyhow::Result<HashMap<_, _>>>()?;
    Ok(PlatformOAuthClient::new(apps, timeout)?)
}

/// Waits until `num_accounts` account actors are resident with a timer armed and `num_pending`
/// deliveries loaded in their windows, or `deadline` passes. Returns the time it took, or `None`.
pub async fn wait_armed(
    handle: &EngineHandle,
    num_accounts: usize,
    num_pending: usize,
    deadline: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let poll = Duration::from_millis(if num_accounts > 20_000 { 250 } else { 50 });
    while started.elapsed() < deadline {
        let seen = handle.observe_totals();
        if seen.num_timers_armed >= num_accounts && seen.num_pending >= num_pending {
            return Some(started.elapsed());
        }
        tokio::time::sleep(poll).await;
    }
    None
}

/// [`OutstandPartner`] without its rate-limit hint. The sandbox advertises a fixed
/// `X-RateLimit-Limit: 600` per minute (a stand-in figure, not Outstand's), which the engine
/// rightly obeys; the throughput scenarios measure the engine, so they do not feed it back.
#[derive(Debug)]
struct UnpacedPartner(OutstandPartner);

#[async_trait]
impl Partner for UnpacedPartner {
    async fn publish(&self, req: PublishRequest) -> Result<PartnerPost, PartnerError> {
        self.0.publish(req).await
    }

    async fn get_post(&self, id: &str) -> Result<Option<PartnerPost>, PartnerError> {
        self.0.get_post(id).await
    }

    async fn find_by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<PartnerPost>, PartnerError> {
        self.0.find_by_idempotency_key(key).await
    }

    fn rate_hint(&self) -> Option<RateHint> {
        None
    }
}

/// One sandbox OAuth flow (authorize with PKCE, then exchange the code).
async fn grant(oauth: &PlatformOAuthClient) -> anyhow::Result<TokenResponse> {
    let pkce = Pkce::generate();
    let redirect = "http://127.0.0.1/callback";
    let url = oauth.authorization_url(PLATFORM, redirect, "st", pkce.challenge(), &["publish"])?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http.get(url).send().await?;
    let location = resp
        .headers()
        .get("location")
        .context("the sandbox did not redirect")?
        .to_str()?;
    let code = url::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("the redirect carries no code")?;
    Ok(oauth
        .exchange_code(PLATFORM, &code, redirect, pkce.verifier())
        .await?)
}

fn workspace(id: WorkspaceId, now: Timestamp) -> Workspace {
    Workspace {
        id,
        name: "bench".into(),
        timezone: "UTC".into(),
        created_at: now,
        deletion_requested_at: None,
        processing_restricted: false,
    }
}

fn owner(id: WorkspaceId, now: Timestamp) -> Membership {
    Membership {
        workspace_id: id,
        user_id: UserId::new(),
        role: Role::Owner,
        created_at: now,
    }
}

fn account(a: BenchAccount, now: Timestamp) -> ConnectedAccount {
    ConnectedAccount {
        id: a.account_id,
        workspace_id: a.workspace_id,
        platform: PLATFORM,
        platform_user_id: a.account_id.to_string(),
        partner_account_id: Some(a.account_id.to_string()),
        username: "bench".into(),
        display_name: "Bench".into(),
        avatar_url: None,
        status: AccountStatus::Active,
        status_reason: None,
        access_expires_at: None,
        refresh_expires_at: None,
        token_hint: None,
        connected_at: now,
        updated_at: now,
    }
}

/// A scheduled single-account post and its delivery, as a CSV import leaves them.
pub fn post_with_delivery(
    ws: WorkspaceId,
    acc: AccountId,
    platform: Platform,
    due_at: Timestamp,
    now: Timestamp,
) -> (Post, Delivery) {
    let post = Post {
        id: PostId::new(),
        workspace_id: ws,
        caption: "A benchmark post with a caption of ordinary length, #hashtag".into(),
        variants: Default::default(),
        media_ids: vec![],
        media_urls: vec![],
        first_comment: None,
        account_ids: vec![acc],
        status: PostStatus::Scheduled,
        scheduled_at: Some(due_at),
        timezone: "UTC".into(),
        external_id: None,
        created_by: None,
        created_at: now,
        updated_at: now,
    };
    let id = DeliveryId::new();
    let delivery = Delivery {
        id,
        workspace_id: ws,
        post_id: post.id,
        account_id: acc,
        platform,
        state: DeliveryState::Scheduled,
        idempotency_key: id.to_string(),
        attempts: 0,
        due_at,
        partner_post_id: None,
        platform_post_id: None,
        published_at: None,
        last_error: None,
        version: 0,
        updated_at: now,
    };
    (post, delivery)
}
