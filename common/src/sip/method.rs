//! SIP request methods (RFC 3261 §7.1 and the extension RFCs).

use bytestring::ByteString;
use std::fmt;

/// A SIP request method: the RFC 3261 six, the common extensions, or any other token (RFC 3261 §25.1 `Method`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE (RFC 3261 §13).
    Invite,
    /// ACK (RFC 3261 §13.2.2.4, §17.1.1.3).
    Ack,
    /// BYE (RFC 3261 §15).
    Bye,
    /// CANCEL (RFC 3261 §9).
    Cancel,
    /// REGISTER (RFC 3261 §10).
    Register,
    /// OPTIONS (RFC 3261 §11).
    Options,
    /// PRACK (RFC 3262).
    Prack,
    /// UPDATE (RFC 3311).
    Update,
    /// INFO (RFC 6086).
    Info,
    /// REFER (RFC 3515).
    Refer,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// PUBLISH (RFC 3903).
    Publish,
    /// MESSAGE (RFC 3428).
    Message,
    /// Any other method token, kept as written (method names are case-sensitive, RFC 3261 §7.1).
    Extension(ByteString),
}

impl Method {
    /// Every method the SBC knows by name, in the order an Allow header lists them.
    pub const KNOWN: [Self; 14] = [
        Self::Invite,
        Self::Ack,
        Self::Bye,
        Self::Cancel,
        Self::Register,
        Self::Options,
        Self::Prack,
        Self::Update,
        Self::Info,
        Self::Refer,
        Self::Subscribe,
        Self::Notify,
        Self::Publish,
        Self::Message,
    ];

    /// Classifies a method token (case-sensitive, RFC 3261 §7.1); `None` if it is not a token.
    pub fn from_token(token: &str) -> Option<Self> {
        Some(match token {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "REGISTER" => Self::Register,
            "OPTIONS" => Self::Options,
            "PRACK" => Self::Prack,
            "UPDATE" => Self::Update,
            "INFO" => Self::Info,
            "REFER" => Self::Refer,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "PUBLISH" => Self::Publish,
            "MESSAGE" => Self::Message,
            other if is_token(other) => Self::Extension(ByteString::from(other)),
            _ => return None,
        })
    }

    /// Like [`Method::from_token`] but keeps an extension token as a zero-copy slice of `src`.
    pub(crate) fn from_slice(src: &ByteString, token: &str) -> Option<Self> {
        match Self::from_token_known(token) {
            Some(m) => Some(m),
            None if is_token(token) => Some(Self::Extension(src.slice_ref(token))),
            None => None,
        }
    }

    fn from_token_known(token: &str) -> Option<Self> {
        match token {
            "INVITE" | "ACK" | "BYE" | "CANCEL" | "REGISTER" | "OPTIONS" | "PRACK" | "UPDATE"
            | "INFO" | "REFER" | "SUBSCRIBE" | "NOTIFY" | "PUBLISH" | "MESSAGE" => {
                Self::from_token(token)
            }
            _ => None,
        }
    }

    /// The method as it is written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Register => "REGISTER",
            Self::Options => "OPTIONS",
            Self::Prack => "PRACK",
            Self::Update => "UPDATE",
            Self::Info => "INFO",
            Self::Refer => "REFER",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Publish => "PUBLISH",
            Self::Message => "MESSAGE",
            Self::Extension(s) => s,
        }
    }

    /// Whether a request with this method may create a dialog (RFC 3261 §12, RFC 6665 §4.1, RFC 3515).
    pub fn creates_dialog(&self) -> bool {
        matches!(self, Self::Invite | Self::Subscribe | Self::Refer)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `s` is a non-empty RFC 3261 §25.1 `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Whether `b` may appear in an RFC 3261 §25.1 `token`.
pub fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES.get(usize::from(b)).copied().unwrap_or(false)
}

/// Lookup table for [`is_token_byte`].
static TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_extension_methods() {
        for m in Method::KNOWN {
            assert_eq!(Method::from_token(m.as_str()), Some(m.clone()));
        }
        assert_eq!(
            Method::from_token("NEWMETHOD"),
            Some(Method::Extension("NEWMETHOD".into()))
        );
        // Methods are case-sensitive: "invite" is an extension, not INVITE.
        assert_eq!(
            Method::from_token("invite"),
            Some(Method::Extension("invite".into()))
        );
        assert_eq!(Method::from_token(""), None);
        assert_eq!(Method::from_token("IN VITE"), None);
        assert_eq!(Method::from_token("INV@TE"), None);
    }
}
