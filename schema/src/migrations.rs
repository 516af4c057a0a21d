//! Ordered schema migrations. The CQL files in `schema/cql/` are the source of truth: ScyllaDB
//! runs their statements, the embedded store creates the tables they declare. A store records
//! each applied version in `schema_migrations`.

use serde::{Deserialize, Serialize};

/// One migration: a version and its CQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version, starting at 1 and without gaps.
    pub version: u32,
    /// The file name, for progress output.
    pub name: &'static str,
    /// The CQL text: statements separated by `;`, `--` comments allowed.
    pub cql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init.cql",
        cql: include_str!("../cql/0001_init.cql"),
    },
    Migration {
        version: 2,
        name: "0002_erasure.cql",
        cql: include_str!("../cql/0002_erasure.cql"),
    },
    Migration {
        version: 3,
        name: "0003_privacy.cql",
        cql: include_str!("../cql/0003_privacy.cql"),
    },
    Migration {
        version: 4,
        name: "0004_webhooks_analytics.cql",
        cql: include_str!("../cql/0004_webhooks_analytics.cql"),
    },
    Migration {
        version: 5,
        name: "0005_imports.cql",
        cql: include_str!("../cql/0005_imports.cql"),
    },
    Migration {
        version: 6,
        name: "0006_event_log.cql",
        cql: include_str!("../cql/0006_event_log.cql"),
    },
    Migration {
        version: 7,
        name: "0007_account_publishes.cql",
        cql: include_str!("../cql/0007_account_publishes.cql"),
    },
];

/// The schema version this binary expects: the last migration's.
pub const SCHEMA_VERSION: u32 = 7;

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrateReport {
    /// The versions applied by this run, in order; empty when the store was up to date.
    pub applied: Vec<u32>,
    /// The version the store is at now.
    pub version: u32,
}

impl MigrateReport {
    /// Whether nothing had to be applied.
    pub fn up_to_date(&self) -> bool {
        self.applied.is_empty()
    }
}

/// The statements of a CQL file, without comments and blank parts.
pub fn statements(cql: &str) -> Vec<String> {
    let without_comments: String = cql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The table names a CQL file creates, in order.
pub fn created_tables(cql: &str) -> Vec<String> {
    statements(cql)
        .iter()
        .filter_map(|s| {
            let rest = s.strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
            rest.split([' ', '(']).next().map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_migrations_are_numbered_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[test]
    fn test_init_declares_every_table_once() {
        let tables = created_tables(MIGRATIONS[0].cql);
        let mut unique = tables.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tables.len());
        assert!(tables.contains(&"deliveries".to_owned()));
        assert!(
            statements(MIGRATIONS[0].cql)
                .iter()
                .all(|s| !s.contains("--"))
        );
    }
}
