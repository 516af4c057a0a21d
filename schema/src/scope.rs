//! Tenancy scopes. Every store call takes one, so a caller cannot read or write another tenant's
//! rows by mistake: the scope's workspace id is part of every key the backend touches.

use tenants::{AccountId, WorkspaceId};

/// Proof that the caller may act inside one workspace.
///
/// Constructed only by the gateway's authorizer (after checking the principal's membership and
/// key scope) and by engine internals acting on rows they already own. Handlers never build one
/// from a path segment directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkspaceScope {
    workspace_id: WorkspaceId,
}

impl WorkspaceScope {
    /// Builds a scope for code that has already established the right to act in `workspace_id`:
    /// the gateway's authorizer and the engine's own actors. Nothing else may call this.
    pub fn authorized(workspace_id: WorkspaceId) -> Self {
        Self { workspace_id }
    }

    /// The workspace this scope grants.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// Narrows the scope to one account of this workspace.
    pub fn account(&self, account_id: AccountId) -> AccountScope {
        AccountScope {
            workspace: *self,
            account_id,
        }
    }
}

/// Proof that the caller may act on one account of one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountScope {
    workspace: WorkspaceScope,
    account_id: AccountId,
}

impl AccountScope {
    /// The workspace part of the scope.
    pub fn workspace(&self) -> WorkspaceScope {
        self.workspace
    }

    /// The workspace id.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace.workspace_id
    }

    /// The account id.
    pub fn account_id(&self) -> AccountId {
        self.account_id
    }
}
