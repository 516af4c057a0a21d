//! Scenario set-up through the public API: a workspace and connected accounts (through the
//! sandbox's auto-approving consent pages), exactly as a user would do it with curl.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// What the scenario runs against.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The workspace id.
    pub workspace_id: String,
    /// Connected account ids.
    pub account_ids: Vec<String>,
}

/// Creates a workspace and connects `num_accounts` LinkedIn accounts (text posts need no media there).
pub async fn prepare(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    num_accounts: usize,
) -> anyhow::Result<Fixture> {
    let ws: Value = client
        .post(format!("{base}/v1/workspaces"))
        .bearer_auth(key)
        .json(&json!({"name": "loadtest", "timezone": "UTC"}))
        .send()
        .await?
        .error_for_status()
        .context("creating the workspace")?
        .json()
        .await?;
    let workspace_id = ws["id"]
        .as_str()
        .context("workspace response has no id")?
        .to_owned();
    let mut account_ids = Vec::with_capacity(num_accounts);
    for _ in 0..num_accounts {
        let connect: Value = client
            .post(format!(
                "{base}/v1/workspaces/{workspace_id}/accounts/connect"
            ))
            .bearer_auth(key)
            .json(&json!({"platform": "linkedin"}))
            .send()
            .await?
            .error_for_status()
            .context("starting an account connection")?
            .json()
            .await?;
        let url = connect["authorization_url"]
            .as_str()
            .context("connect response has no authorization_url")?;
        crate::run::ensure_loopback(url)?;
        // The consent page redirects to the gateway's callback, which answers with the account.
        let account: Value = client
            .get(url)
            .send()
            .await?
            .error_for_status()
            .context("following the authorization URL")?
            .json()
            .await?;
        match account["id"].as_str() {
            Some(id) => account_ids.push(id.to_owned()),
            None => bail!("the connect callback did not return an account: {account}"),
        }
    }
    Ok(Fixture {
        workspace_id,
        account_ids,
    })
}
