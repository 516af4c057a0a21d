//! The workspace's accounts as an import sees them. The caller fills an [`AccountDirectory`]
//! from the store for the one workspace being imported into, so an account of another workspace
//! is simply absent and reads exactly like an unknown one.
//!
//! An `accounts` cell lists accounts separated by `|`, `;` or `,`, each written as:
//! - an account id (`0190...`);
//! - a username, with or without `@` (`@acme`), matched case-insensitively;
//! - a platform-qualified username (`x:@acme`, `instagram:@acme`), which the export writes,
//!   since one handle can exist on several platforms.

use std::collections::HashMap;

use tenants::{AccountId, AccountStatus, ConnectedAccount, Platform};

/// One account of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEntry {
    /// Its id.
    pub id: AccountId,
    /// Its network.
    pub platform: Platform,
    /// Its handle, without `@`.
    pub username: String,
}

/// The accounts of one workspace, looked up by id or username.
#[derive(Debug, Clone, Default)]
pub struct AccountDirectory {
    entries: Vec<AccountEntry>,
    by_id: HashMap<AccountId, usize>,
    by_username: HashMap<String, Vec<usize>>,
}

fn normalise_username(name: &str) -> String {
    name.trim().trim_start_matches('@').to_lowercase()
}

impl AccountDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The workspace's accounts, except disconnected ones.
    pub fn from_accounts<'a>(accounts: impl IntoIterator<Item = &'a ConnectedAccount>) -> Self {
        let mut dir = Self::new();
        for account in accounts {
            if account.status != AccountStatus::Disconnected {
                dir.insert(account.id, account.platform, &account.username);
            }
        }
        dir
    }

    /// Adds an account; adding an id twice replaces nothing and is ignored.
    pub fn insert(&mut self, id: AccountId, platform: Platform, username: &str) {
        if self.by_id.contains_key(&id) {
            return;
        }
        let index = self.entries.len();
        let username = username.trim().trim_start_matches('@').to_string();
        self.by_username
            .entry(normalise_username(&username))
            .or_default()
            .push(index);
        self.by_id.insert(id, index);
        self.entries.push(AccountEntry {
            id,
            platform,
            username,
        });
    }

    /// The account with this id.
    pub fn get(&self, id: AccountId) -> Option<&AccountEntry> {
        self.by_id.get(&id).map(|i| &self.entries[*i])
    }

    /// The accounts on `platform`.
    pub fn on_platform(&self, platform: Platform) -> impl Iterator<Item = &AccountEntry> {
        self.entries.iter().filter(move |e| e.platform == platform)
    }

    /// How an export names the account: `platform:@username`, which resolves in any workspace
    /// that has that handle on that platform.
    pub fn export_name(&self, id: AccountId) -> String {
        match self.get(id) {
            Some(e) => format!("{}:@{}", e.platform, e.username),
            None => id.to_string(),
        }
    }

    /// Resolves one token of an `accounts` cell. With `platforms` non-empty, a username is
    /// looked up on those platforms only.
    ///
    /// # Errors
    /// A message for a person: unknown account, account on a platform not listed, or a
    /// username found on several platforms.
    pub fn resolve(&self, token: &str, platforms: &[Platform]) -> Result<&AccountEntry, String> {
        let token = token.trim();
        let shown = super::echo(token);
        let candidates: Vec<&AccountEntry> = if let Ok(id) = token.parse::<AccountId>() {
            return self
                .get(id)
                .ok_or_else(|| {
                    format!("unknown account `{shown}`: not connected to this workspace")
                })
                .and_then(|e| check_platform(e, platforms, &shown));
        } else if let Some((platform, name)) = qualified(token) {
            self.with_username(name)
                .filter(|e| e.platform == platform)
                .collect()
        } else {
            self.with_username(token).collect()
        };
        match candidates.as_slice() {
            [] => Err(format!(
                "unknown account `{shown}`: no account with that username is connected to this \
                 workspace"
            )),
            [one] => check_platform(one, platforms, &shown),
            many => {
                let listed: Vec<&AccountEntry> = many
                    .iter()
                    .copied()
                    .filter(|e| platforms.contains(&e.platform))
                    .collect();
                match listed.as_slice() {
                    [one] => Ok(one),
                    [] if !platforms.is_empty() => check_platform(many[0], platforms, &shown),
                    _ => {
                        let names: Vec<String> = many
                            .iter()
                            .map(|e| format!("{}:@{}", e.platform, e.username))
                            .collect();
                        Err(format!(
                            "`{shown}` matches accounts on several platforms; write one of {}",
                            names.join(", ")
                        ))
                    }
                }
            }
        }
    }

    fn with_username(&self, name: &str) -> impl Iterator<Item = &AccountEntry> {
        self.by_username
            .get(&normalise_username(name))
            .into_iter()
            .flatten()
            .map(|i| &self.entries[*i])
    }
}

fn qualified(token: &str) -> Option<(Platform, &str)> {
    let (platform, name) = token.split_once(':')?;
    Some((platform.parse().ok()?, name))
}

fn check_platform<'a>(
    entry: &'a AccountEntry,
    platforms: &[Platform],
    shown: &str,
) -> Result<&'a AccountEntry, String> {
    if platforms.is_empty() || platforms.contains(&entry.platform) {
        return Ok(entry);
    }
    let listed: Vec<&str> = platforms.iter().map(|p| p.as_str()).collect();
    Err(format!(
        "`{shown}` is a {} account, but platforms lists only {}",
        entry.platform,
        listed.join(", ")
    ))
}

/// Splits a list cell on `|`, `;` and `,`, dropping empty items.
pub fn split_list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(['|', ';', ',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (AccountDirectory, AccountId, AccountId, AccountId) {
        let mut dir = AccountDirectory::new();
        let (x, ig, li) = (AccountId::new(), AccountId::new(), AccountId::new());
        dir.insert(x, Platform::X, "Acme");
        dir.insert(ig, Platform::Instagram, "acme");
        dir.insert(li, Platform::Linkedin, "@acme_corp");
        (dir, x, ig, li)
    }

    #[test]
    fn test_accounts_resolve_by_id_username_and_qualified_name() {
        let (dir, x, ig, li) = dir();
        assert_eq!(dir.resolve(&x.to_string(), &[]).unwrap().id, x);
        assert_eq!(dir.resolve("@ACME_corp", &[]).unwrap().id, li);
        assert_eq!(dir.resolve("acme_corp", &[]).unwrap().id, li);
        assert_eq!(dir.resolve("instagram:@acme", &[]).unwrap().id, ig);
        assert_eq!(dir.resolve("twitter:acme", &[]).unwrap().id, x);
        assert_eq!(dir.resolve("@acme", &[Platform::X]).unwrap().id, x);
        assert_eq!(dir.export_name(ig), "instagram:@acme");
    }

    #[test]
    fn test_shared_handle_without_platform_is_rejected() {
        let (dir, ..) = dir();
        assert_eq!(
            dir.resolve("@acme", &[]).unwrap_err(),
            "`@acme` matches accounts on several platforms; write one of x:@Acme, instagram:@acme"
        );
    }

    #[test]
    fn test_unknown_and_foreign_accounts_are_unknown() {
        let (dir, _, _, li) = dir();
        let other = AccountId::new();
        assert_eq!(
            dir.resolve(&other.to_string(), &[]).unwrap_err(),
            format!("unknown account `{other}`: not connected to this workspace")
        );
        assert!(
            dir.resolve("@nobody", &[])
                .unwrap_err()
                .starts_with("unknown account")
        );
        assert_eq!(
            dir.resolve(&li.to_string(), &[Platform::X]).unwrap_err(),
            format!("`{li}` is a linkedin account, but platforms lists only x")
        );
    }
}
