//! The configuration error: always names the file, and the line and field when known.

use std::fmt;

/// A place in a configuration file: the file name and, when known, the 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// File name as given to the loader (`<embedded default>` for the built-in config).
    pub file: String,
    /// 1-based line, when the problem can be tied to one.
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// Why a configuration could not be loaded; `Display` reads `file:line: field: what is wrong`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file name.
        file: String,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("{location}: TOML syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// A key or value is wrong: unknown key, wrong type, missing key, or a failed check.
    #[error("{location}: {}{message}", field_prefix(field))]
    Invalid {
        /// Where the offending value (or its table) is.
        location: Location,
        /// Dotted path of the field, such as `route[1].next_hop` or `interface.core.rtp_port_min`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

impl ConfigError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            Self::Read { file, .. } => file,
            Self::Syntax { location, .. } | Self::Invalid { location, .. } => &location.file,
        }
    }

    /// The 1-based line, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Read { .. } => None,
            Self::Syntax { location, .. } | Self::Invalid { location, .. } => location.line,
        }
    }

    /// The dotted field path, for `Invalid` errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::Read { .. } | Self::Syntax { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let e = ConfigError::Invalid {
            location: Location {
                file: "sbc.toml".into(),
                line: Some(14),
            },
            field: "route[1].next_hop".into(),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "sbc.toml:14: route[1].next_hop: bad");
        assert_eq!(e.line(), Some(14));
        assert_eq!(e.field(), Some("route[1].next_hop"));
        let e = ConfigError::Invalid {
            location: Location {
                file: "x.toml".into(),
                line: None,
            },
            field: String::new(),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "x.toml: bad");
        assert_eq!(e.file(), "x.toml");
    }
}
