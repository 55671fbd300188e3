//! What is wrong with a document: field errors at their paths, or no document at all.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem with a document, at a field path such as `spec.database.storageGiB` or
/// `spec.app.services[1].port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The text is not a YAML/JSON document at all (or is too large to be one).
    #[error("not a valid document: {0}")]
    Syntax(String),
    /// The document parsed, and these fields are wrong. Never empty.
    #[error("{}", display_lines(.0))]
    Invalid(Vec<FieldError>),
}

fn display_lines(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl SpecError {
    /// Every field error; a syntax error is reported at the document root.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            SpecError::Syntax(message) => vec![FieldError::new("(document)", message.clone())],
            SpecError::Invalid(errors) => errors.clone(),
        }
    }
}
