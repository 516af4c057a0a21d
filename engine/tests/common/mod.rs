//! Shared set-up for the engine's end-to-end tests: a redb store in a temp dir, the sandbox over
//! loopback HTTP, a `ManualClock`, and accounts connected through the sandbox's OAuth flow.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use engine::partner::{Pkce, PlatformOAuthClient};
use engine::{Engine, EngineConfig, EngineHandle, EngineTuning, NewAccount, NewPost, TokenGrant};
use jiff::Timestamp;
use sandbox::{Sandbox, SandboxConfig};
use schema::{RedbStore, Store, WorkspaceScope};
use secrecy::{ExposeSecret, SecretString};
use tenants::{
    ManualClock, MasterKeyring, Membership, Platform, PostStatus, Role, SharedClock, UserId,
    Workspace, WorkspaceId,
};

pub const CLIENT_ID: &str = "socialcrm-test";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub clock: ManualClock,
    pub sandbox: Sandbox,
    pub oauth: PlatformOAuthClient,
    pub master_keys: String,
}

pub fn start_time() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

pub async fn env(config: impl FnOnce(&mut SandboxConfig)) -> anyhow::Result<Env> {
    let dir = tempfile::tempdir()?;
    let store = open_store(&dir).await?;
    let clock = ManualClock::new(start_time());
    let mut sc = SandboxConfig {
        clock: Arc::new(clock.clone()),
        ..SandboxConfig::default()
    };
    config(&mut sc);
    let sandbox = Sandbox::spawn("127.0.0.1:0".parse()?, sc).await?;
    let oauth = PlatformOAuthClient::sandbox(
        &sandbox.base_url(),
        CLIENT_ID,
        &SecretString::from("secret"),
        Duration::from_secs(5),
    )?;
    let ring = MasterKeyring::generate("test-master")?;
    let master_keys = ring.active().to_config_entry().expose_secret().to_owned();
    Ok(Env {
        dir,
        store,
        clock,
        sandbox,
        oauth,
        master_keys,
    })
}

pub async fn open_store(dir: &tempfile::TempDir) -> anyhow::Result<Arc<dyn Store>> {
    let store = RedbStore::open(dir.path().join("store.redb"))?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

impl Env {
    pub fn tuning() -> EngineTuning {
        EngineTuning {
            scan_interval: Duration::from_millis(200),
            ..EngineTuning::default()
        }
    }

    pub async fn start(&self, tuning: EngineTuning) -> anyhow::Result<Engine> {
        let shared: SharedClock = Arc::new(self.clock.clone());
        let base = self.sandbox.base_url();
        let config = EngineConfig {
            outstand_base_url: format!("{base}/outstand/v1"),
            outstand_api_key: SecretString::from("sandbox-outstand-key"),
            oauth_base_urls: Platform::ALL
                .into_iter()
                .map(|p| (p, format!("{base}/oauth/{p}")))
                .collect(),
            oauth_client_id: CLIENT_ID.into(),
            oauth_client_secret: SecretString::from("secret"),
            master_keys: MasterKeyring::parse(&self.master_keys)?,
            tuning,
            event_sink: None,
            partner_timeout: Duration::from_secs(5),
            partner_http: engine::partner::PartnerHttp::H2c,
        };
        Ok(Engine::start(config, self.store.clone(), shared).await?)
    }

    pub async fn workspace(&self) -> anyhow::Result<WorkspaceScope> {
        let id = WorkspaceId::new();
        let ws = Workspace {
            id,
            name: "Agency".into(),
            timezone: "UTC".into(),
            created_at: start_time(),
            deletion_requested_at: None,
            processing_restricted: false,
        };
        let owner = Membership {
            workspace_id: id,
            user_id: UserId::new(),
            role: Role::Owner,
            created_at: start_time(),
        };
        self.store.create_workspace(&ws, &owner).await?;
        Ok(WorkspaceScope::authorized(id))
    }

    /// Runs the sandbox OAuth flow and returns the new account's grant.
    pub async fn grant(&self, platform: Platform) -> anyhow::Result<NewAccount> {
        let pkce = Pkce::generate();
        let redirect = "http://127.0.0.1/callback";
        let url = self.oauth.authorization_url(
            platform,
            redirect,
            "st",
            pkce.challenge(),
            &["publish"],
        )?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let resp = http.get(url).send().await?;
        let location = resp
            .headers()
            .get("location")
            .ok_or_else(|| anyhow::anyhow!("no redirect"))?
            .to_str()?
            .to_owned();
        let loc = url::Url::parse(&location)?;
        let code = loc
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| anyhow::anyhow!("no code"))?;
        let tokens = self
            .oauth
            .exchange_code(platform, &code, redirect, pkce.verifier())
            .await?;
        let user = tokens
            .user
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no user"))?;
        Ok(NewAccount {
            platform,
            platform_user_id: user.id.clone(),
            partner_account_id: Some(user.id.clone()),
            username: user.username.unwrap_or_default(),
            display_name: user.name.unwrap_or_default(),
            avatar_url: None,
            grant: TokenGrant {
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token,
                expires_in_secs: tokens.expires_in.map(|d| d.as_secs() as i64),
                refresh_expires_in_secs: tokens.refresh_expires_in.map(|d| d.as_secs() as i64),
                scope: tokens.scope,
            },
        })
    }
}

pub fn post_at(caption: &str, accounts: Vec<tenants::AccountId>, at: Timestamp) -> NewPost {
    NewPost {
        caption: caption.into(),
        account_ids: accounts,
        schedule: Some(tenants::ScheduleInput::At(at)),
        status: PostStatus::Scheduled,
        media_ids: vec![],
        media_urls: vec![],
        variants: BTreeMap::new(),
        first_comment: None,
        external_id: None,
        created_by: None,
    }
}

/// Advances the clock in `step`s, nudging the engine, until `done` holds or `deadline` passes.
pub async fn run_until<F, Fut>(
    env: &Env,
    engine: &EngineHandle,
    step: jiff::SignedDuration,
    deadline: Duration,
    mut done: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + deadline;
    while std::time::Instant::now() < until {
        if done().await {
            return true;
        }
        env.clock.advance(step);
        let _ = engine.tick().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done().await
}

impl Env {
    pub fn clock_now(&self) -> Timestamp {
        use tenants::Clock;
        self.clock.now()
    }
}

impl Env {
    /// Connects a LinkedIn account in `scope`.
    pub async fn linkedin_account(
        &self,
        h: &EngineHandle,
        scope: WorkspaceScope,
    ) -> anyhow::Result<tenants::AccountId> {
        Ok(
            h.connect_account(scope, self.grant(Platform::Linkedin).await?)
                .await?
                .id,
        )
    }

    /// Connects a LinkedIn account in `scope` and schedules one post on it for `at`; returns
    /// the account and the post.
    pub async fn linkedin_post(
        &self,
        h: &EngineHandle,
        scope: WorkspaceScope,
        caption: &str,
        at: Timestamp,
    ) -> anyhow::Result<(tenants::AccountId, tenants::PostId)> {
        let account = self.linkedin_account(h, scope).await?;
        let post = h
            .create_post(scope, post_at(caption, vec![account], at))
            .await?
            .post
            .id;
        Ok((account, post))
    }
}
