//! `socialcrm doctor`: checks the configuration, the store and its schema, and says what is
//! wrong and what to do about it.

use anyhow::bail;
use schema::StoreUrl;

use crate::config::Settings;

/// Runs every check, prints one line per check, and fails if any check failed.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let mut failures = 0usize;
    let mut report = |ok: bool, what: &str, detail: String| {
        let mark = if ok { "ok  " } else { "FAIL" };
        println!("[{mark}] {what}: {detail}");
        if !ok {
            failures += 1;
        }
    };

    report(
        true,
        "mode",
        if settings.sandbox_mode() {
            "sandbox (no OUTSTAND_API_KEY set; partners are local stand-ins)".to_owned()
        } else {
            "live partners".to_owned()
        },
    );
    if !settings.sandbox_mode() && settings.master_keys.is_none() {
        report(
            false,
            "master keys",
            "live mode needs SOCIALCRM_MASTER_KEYS (id:base64key,...) so tokens can be sealed"
                .to_owned(),
        );
    }

    match StoreUrl::parse(&settings.store) {
        Err(err) => report(false, "store url", err.to_string()),
        Ok(url) => {
            report(true, "store url", settings.store.clone());
            match schema::inspect(&url).await {
                Err(err) => report(false, "store reachable", err.to_string()),
                Ok(status) => {
                    report(true, "store reachable", settings.store.clone());
                    let current = status.version == status.latest;
                    report(
                        current,
                        "schema version",
                        if current {
                            format!("{} (latest)", status.version)
                        } else {
                            format!(
                                "{} but this binary needs {}; run `socialcrm migrate`",
                                status.version, status.latest
                            )
                        },
                    );
                }
            }
        }
    }
    if failures > 0 {
        bail!("{failures} check(s) failed");
    }
    println!("all checks passed");
    Ok(())
}
