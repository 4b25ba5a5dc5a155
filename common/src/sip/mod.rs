//! SIP messages, headers, URIs and stream framing (RFC 3261).
//!
//! [`Message::parse`] reads a datagram into a [`Message`] whose headers are zero-copy slices of the
//! received bytes; the typed views ([`Via`], [`NameAddr`], [`CSeq`], ...) parse a header's text on
//! demand and borrow from it. [`StreamFramer`] cuts TCP/TLS byte streams into messages.

pub mod error;
pub mod fields;
pub mod framing;
pub mod header;
pub mod message;
pub mod method;
pub mod multipart;
pub mod name_addr;
pub mod params;
pub mod status;
pub mod uri;
pub mod via;
mod view_cache;

pub use error::{ParseError, ParseErrorKind};
pub use fields::{
    CSeq, HeaderError, RAck, Refresher, Replaces, SessionExpires, SubscriptionState, TokenParams,
};
pub use framing::{Frame, FrameError, StreamFramer};
pub use header::{split_list, Header, HeaderName};
pub use message::{Limits, Message, StartLine};
pub use method::Method;
pub use name_addr::{Contact, NameAddr};
pub use params::Params;
pub use status::reason_phrase;
pub use via::Via;

#[cfg(test)]
mod tests;
