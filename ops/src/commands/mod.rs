//! One module per subcommand.

pub mod doctor;
pub mod export;
pub mod import;
pub mod keyring_reload;
pub mod keys;
pub mod migrate;
pub mod rotate;
pub mod serve;
