//! `socialcrm migrate` and `socialcrm compact`: schema upkeep of the configured store.

use anyhow::Context;
use schema::StoreUrl;

use crate::config::Settings;

/// Brings the store to the latest schema and says what it did. Running it twice is safe: the
/// second run reports "up to date".
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let url = StoreUrl::parse(&settings.store)?;
    let report = schema::migrate(&url)
        .await
        .with_context(|| format!("cannot migrate store {}", settings.store))?;
    if report.applied.is_empty() {
        println!(
            "store {} is up to date (schema version {})",
            settings.store, report.version
        );
    } else {
        let applied: Vec<String> = report.applied.iter().map(u32::to_string).collect();
        println!(
            "store {} migrated to schema version {} (applied {})",
            settings.store,
            report.version,
            applied.join(", ")
        );
    }
    Ok(())
}

/// Reclaims free space in the embedded store file.
pub async fn compact(settings: &Settings) -> anyhow::Result<()> {
    let url = StoreUrl::parse(&settings.store)?;
    let outcome = schema::compact(&url)
        .await
        .with_context(|| format!("cannot compact store {}", settings.store))?;
    println!("{outcome}");
    Ok(())
}
