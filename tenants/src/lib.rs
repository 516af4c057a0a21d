//! The socialcrm domain: ids, workspaces, accounts, posts, deliveries and their state machine,
//! schedules, platform rules, validation and the token vault's crypto. No IO happens here.

pub mod account;
pub mod clock;
pub mod crypto;
pub mod delivery;
pub mod ids;
pub mod persona;
pub mod platform;
pub mod post;
pub mod rules;
pub mod schedule;
pub mod validation;
pub mod vault;
pub mod webhook_signature;
pub mod workspace;

pub use account::{AccountStatus, ConnectedAccount};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use crypto::{
    DataKey, MasterKey, MasterKeyring, SealAad, VaultError, needs_rewrap, open, open_string,
    rewrap, seal, secret_hint, unwrap_data_key, wrap_data_key,
};
pub use delivery::{Delivery, DeliveryError, DeliveryEvent, DeliveryState, IllegalTransition};
pub use ids::*;
pub use persona::Persona;
pub use platform::Platform;
pub use post::{Post, PostStatus, Variant, post_status_from};
pub use rules::{
    CaptionRule, CaptionUnit, MediaKind, MediaRule, PlatformRules, Quota, RefreshStyle, TokenRule,
    rules,
};
pub use schedule::{
    ScheduleError, ScheduleInput, local_in, parse_timezone, resolve, resolve_local,
};
pub use validation::{
    FieldError, ValidationError, validate_caption, validate_media, validate_media_count,
    validate_post_content, validate_text, validate_workspace_name,
};
pub use vault::{Sealed, StoredTokens, WrappedDataKey};
pub use workspace::{
    ApiKeyMeta, MediaMeta, Membership, Provider, Role, Scope, Session, User, Workspace,
};
