//! Errors the CLI raises itself, and how every error is shown to the user.

use std::fmt;

use datafusion::error::DataFusionError;

/// A mistake in what the user typed: a command, a flag, a file name.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Wraps `message` so that it travels as a `DataFusionError`.
pub fn usage(message: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(UsageError(message.into())))
}

/// The text after `Error: ` for any error; an external error shows only its own message.
pub fn message(err: &DataFusionError) -> String {
    match err {
        DataFusionError::External(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_show_only_their_message() {
        assert_eq!(message(&usage("bad flag")), "bad flag");
        let plan = DataFusionError::Plan("no table".into());
        assert_eq!(message(&plan), "Error during planning: no table");
    }
}
