//! Why an SDP body was refused or a rewrite could not be done.

/// An SDP body that cannot be used, or a rewrite that would make it invalid.
///
/// `line` numbers count from 1 over the whole body, blank lines included. The B2BUA turns
/// these into a final response with [`SdpError::status_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is empty or holds only blank lines.
    #[error("empty SDP body")]
    Empty,
    /// The first line is not `v=` (RFC 4566 §5).
    #[error("SDP does not start with a v= line")]
    MissingVersion,
    /// `v=` is not `0`, the only version defined.
    #[error("line {line}: unsupported SDP version (only v=0 is defined)")]
    BadVersion {
        /// Line number.
        line: usize,
    },
    /// There is no `o=` line in the session section.
    #[error("SDP has no o= line")]
    MissingOrigin,
    /// `o=` does not have six fields, or (for a rewrite) its sess-version is not a number.
    #[error("line {line}: bad o= line")]
    BadOrigin {
        /// Line number.
        line: usize,
    },
    /// A non-blank line that is not `<letter>=<value>`.
    #[error("line {line}: not a <type>=<value> line")]
    MalformedLine {
        /// Line number.
        line: usize,
    },
    /// A NUL byte, or a CR that does not end the line.
    #[error("line {line}: NUL or stray CR in line")]
    IllegalCharacter {
        /// Line number.
        line: usize,
    },
    /// A `v=` line after the first, or an `o=` line repeated or inside a media section.
    #[error("line {line}: unexpected {kind}= line")]
    Misplaced {
        /// Line number.
        line: usize,
        /// The line's type letter.
        kind: char,
    },
    /// An `m=` line without transport protocol or formats.
    #[error("line {line}: bad m= line: {reason}")]
    BadMedia {
        /// Line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The port (or port count) of an `m=` line is not a number from 0 to 65535.
    #[error("line {line}: bad port in m= line")]
    BadPort {
        /// Line number.
        line: usize,
    },
    /// A `c=` line that is not `<nettype> <addrtype> <address>`.
    #[error("line {line}: bad c= line")]
    BadConnection {
        /// Line number.
        line: usize,
    },
    /// A session-level `t=` line that is not `<start> <stop>`.
    #[error("line {line}: bad t= line")]
    BadTiming {
        /// Line number.
        line: usize,
    },
    /// Removing payload types would leave an `m=` line without any format.
    #[error("no format would be left in the m= line")]
    NoFormatsLeft,
    /// Text given to a rewrite holds CR, LF or NUL (which would break the line structure),
    /// or an attribute name is empty or holds `:`.
    #[error(
        "text for an SDP line holds CR, LF or NUL, or the attribute name is empty or holds ':'"
    )]
    InvalidText,
}

impl SdpError {
    /// The SIP status code to answer an offer carrying this error with: 400 for a body that
    /// does not parse, 488 (Not Acceptable Here) when the SDP is fine but nothing in it can be
    /// accepted, 500 when our own rewrite was asked to write something invalid.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::NoFormatsLeft => 488,
            Self::InvalidText => 500,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_status() {
        assert_eq!(
            SdpError::BadPort { line: 6 }.to_string(),
            "line 6: bad port in m= line"
        );
        assert_eq!(
            SdpError::Misplaced { line: 3, kind: 'v' }.to_string(),
            "line 3: unexpected v= line"
        );
        assert_eq!(SdpError::MissingVersion.status_code(), 400);
        assert_eq!(SdpError::NoFormatsLeft.status_code(), 488);
    }
}
