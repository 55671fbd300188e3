//! The store's errors, with the stable names the handlers report them under.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{item} was changed by someone else (expected version {expected:?}); read it again")]
    StaleVersion { item: String, expected: Option<u64> },
    #[error("environment {environment} is locked by {holder} until {expires_at}")]
    LockHeld {
        environment: String,
        holder: String,
        expires_at: u64,
    },
    #[error("environment {environment}'s lock is held by {holder:?}, not by {caller}")]
    NotLockHolder {
        environment: String,
        caller: String,
        holder: Option<String>,
    },
    #[error("stored item {item} is unreadable: {reason}")]
    Corrupt { item: String, reason: String },
    #[error("DynamoDB: {0}")]
    Aws(String),
}

impl StoreError {
    /// Stable names, used as Lambda error types by the handlers.
    pub fn name(&self) -> &'static str {
        match self {
            StoreError::StaleVersion { .. } => "StaleVersion",
            StoreError::LockHeld { .. } => "LockHeld",
            StoreError::NotLockHolder { .. } => "NotLockHolder",
            StoreError::Corrupt { .. } => "CorruptState",
            StoreError::Aws(_) => "StoreUnavailable",
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;
