//! Zero-copy STUN message view, enough to recognise and count Binding requests
//! ([RFC 5389 §6](https://www.rfc-editor.org/rfc/rfc5389#section-6)).
//!
//! [`is_stun`] is the cheap test for a datagram on a muxed media port; [`Packet`] views the
//! 20-byte header and iterates over the attributes (type, value, padding to 32 bits).
//! [`Packet::new_checked`] validates the header and every attribute length once; accessors
//! never panic, even on an unchecked view. [`auth`] checks MESSAGE-INTEGRITY and FINGERPRINT
//! and writes the Binding responses an ICE-lite agent sends.

use core::iter::FusedIterator;

pub mod auth;

pub use crate::rtp::Error;
use crate::rtp::{be_u16, be_u32, put};

/// Length of the STUN header (RFC 5389 §6).
pub const HEADER_LEN: usize = 20;

/// The fixed magic cookie in bytes 4..8 (RFC 5389 §6).
pub const MAGIC_COOKIE: u32 = 0x2112_a442;

/// The Binding method (RFC 5389 §18.1).
pub const METHOD_BINDING: u16 = 0x001;

/// Attribute types used around ICE (RFC 5389 §18.2, RFC 8445 §16.1).
pub mod attr {
    /// MAPPED-ADDRESS (RFC 5389 §15.1).
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// USERNAME (RFC 5389 §15.3).
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY (RFC 5389 §15.4).
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE (RFC 5389 §15.6).
    pub const ERROR_CODE: u16 = 0x0009;
    /// UNKNOWN-ATTRIBUTES (RFC 5389 §15.9).
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000a;
    /// REALM (RFC 5389 §15.7).
    pub const REALM: u16 = 0x0014;
    /// NONCE (RFC 5389 §15.8).
    pub const NONCE: u16 = 0x0015;
    /// XOR-MAPPED-ADDRESS (RFC 5389 §15.2).
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// PRIORITY (RFC 8445 §7.1.1).
    pub const PRIORITY: u16 = 0x0024;
    /// USE-CANDIDATE (RFC 8445 §7.1.2).
    pub const USE_CANDIDATE: u16 = 0x0025;
    /// SOFTWARE (RFC 5389 §15.10).
    pub const SOFTWARE: u16 = 0x8022;
    /// ALTERNATE-SERVER (RFC 5389 §15.11).
    pub const ALTERNATE_SERVER: u16 = 0x8023;
    /// FINGERPRINT (RFC 5389 §15.5).
    pub const FINGERPRINT: u16 = 0x8028;
    /// ICE-CONTROLLED (RFC 8445 §7.1.3).
    pub const ICE_CONTROLLED: u16 = 0x8029;
    /// ICE-CONTROLLING (RFC 8445 §7.1.3).
    pub const ICE_CONTROLLING: u16 = 0x802a;
}

/// The class of a STUN message, two bits spread through the type field (RFC 5389 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request (0b00).
    Request,
    /// An indication (0b01).
    Indication,
    /// A success response (0b10).
    SuccessResponse,
    /// An error response (0b11).
    ErrorResponse,
}

/// A STUN message type: class plus 12-bit method (RFC 5389 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType {
    /// The class (C1 C0 bits).
    pub class: Class,
    /// The 12-bit method, e.g. [`METHOD_BINDING`].
    pub method: u16,
}

impl MessageType {
    /// A Binding request, type 0x0001 (RFC 5389 §18.1).
    pub const BINDING_REQUEST: Self = Self {
        class: Class::Request,
        method: METHOD_BINDING,
    };

    /// Splits the 14-bit type field `M11..M7 C1 M6..M4 C0 M3..M0` (top two bits ignored).
    pub const fn from_u16(value: u16) -> Self {
        let class = match ((value >> 7) & 0b10) | ((value >> 4) & 0b01) {
            0 => Class::Request,
            1 => Class::Indication,
            2 => Class::SuccessResponse,
            _ => Class::ErrorResponse,
        };
        let method = (value & 0x000f) | ((value >> 1) & 0x0070) | ((value >> 2) & 0x0f80);
        Self { class, method }
    }

    /// Packs class and method (low 12 bits) back into the type field.
    pub const fn to_u16(self) -> u16 {
        let class: u16 = match self.class {
            Class::Request => 0,
            Class::Indication => 1,
            Class::SuccessResponse => 2,
            Class::ErrorResponse => 3,
        };
        let m = self.method & 0x0fff;
        (m & 0x000f)
            | ((m & 0x0070) << 1)
            | ((m & 0x0f80) << 2)
            | ((class & 0b01) << 4)
            | ((class & 0b10) << 7)
    }
}

/// Tells whether a datagram is a well-formed STUN header: top two bits zero, magic cookie,
/// and a length that is a multiple of 4 and matches the datagram (RFC 5389 §6, §7.3).
pub fn is_stun(datagram: &[u8]) -> bool {
    check_header(datagram).is_ok()
}

/// The header checks behind [`is_stun`] and [`Packet::check_len`].
fn check_header(buf: &[u8]) -> Result<(), Error> {
    if buf.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    if be_u16(buf, 0) & 0xc000 != 0 || be_u32(buf, 4) != MAGIC_COOKIE {
        return Err(Error::Version);
    }
    let len = usize::from(be_u16(buf, 2));
    if len % 4 != 0 || HEADER_LEN + len != buf.len() {
        return Err(Error::Malformed);
    }
    Ok(())
}

/// A view of one STUN message (RFC 5389 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without any check; accessors still never panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`] has accepted it.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header as [`is_stun`] does and that the attributes, each padded to 32 bits,
    /// exactly fill the message body (RFC 5389 §6, §15).
    pub fn check_len(&self) -> Result<(), Error> {
        let buf = self.buffer.as_ref();
        check_header(buf)?;
        let mut rest = buf.get(HEADER_LEN..).unwrap_or_default();
        while !rest.is_empty() {
            rest = split_attribute(rest).ok_or(Error::Malformed)?.1;
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The raw 16-bit message type field.
    pub fn message_type_raw(&self) -> u16 {
        be_u16(self.buffer.as_ref(), 0)
    }

    /// The message type split into class and method.
    pub fn message_type(&self) -> MessageType {
        MessageType::from_u16(self.message_type_raw())
    }

    /// The message class.
    pub fn class(&self) -> Class {
        self.message_type().class
    }

    /// The 12-bit method.
    pub fn method(&self) -> u16 {
        self.message_type().method
    }

    /// Whether this is a Binding request (type 0x0001), the ICE connectivity check.
    pub fn is_binding_request(&self) -> bool {
        self.message_type_raw() == 0x0001
    }

    /// The message length field: body bytes after the 20-byte header.
    pub fn length(&self) -> u16 {
        be_u16(self.buffer.as_ref(), 2)
    }

    /// The magic cookie field (0x2112A442 on RFC 5389 messages).
    pub fn magic_cookie(&self) -> u32 {
        be_u32(self.buffer.as_ref(), 4)
    }

    /// The 96-bit transaction id; zeros if the buffer is too short.
    pub fn transaction_id(&self) -> [u8; 12] {
        self.buffer
            .as_ref()
            .get(8..)
            .and_then(|s| s.first_chunk::<12>())
            .copied()
            .unwrap_or_default()
    }

    /// Iterates over the attributes; stops at the first malformed one on an unchecked view.
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes {
            rest: self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default(),
        }
    }

    /// The value of the first attribute of type `kind`, if any.
    pub fn attribute(&self, kind: u16) -> Option<&[u8]> {
        self.attributes().find(|a| a.kind == kind).map(|a| a.value)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type field.
    pub fn set_message_type(&mut self, value: MessageType) {
        put(self.buffer.as_mut(), 0, &value.to_u16().to_be_bytes());
    }

    /// Sets the message length field.
    pub fn set_length(&mut self, value: u16) {
        put(self.buffer.as_mut(), 2, &value.to_be_bytes());
    }

    /// Sets the magic cookie field.
    pub fn set_magic_cookie(&mut self, value: u32) {
        put(self.buffer.as_mut(), 4, &value.to_be_bytes());
    }

    /// Sets the transaction id.
    pub fn set_transaction_id(&mut self, value: &[u8; 12]) {
        put(self.buffer.as_mut(), 8, value);
    }
}

/// Splits one attribute (and its padding) off the front of `buf`.
///
/// The padding of the last attribute may be missing on an unchecked view; the attribute is
/// still returned and the rest is empty.
fn split_attribute(buf: &[u8]) -> Option<(Attribute<'_>, &[u8])> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let (value, rest) = rest.split_at_checked(len)?;
    let pad = (4 - len % 4) % 4;
    let rest = rest.get(pad..)?;
    let attribute = Attribute {
        kind: u16::from_be_bytes([head[0], head[1]]),
        value,
    };
    Some((attribute, rest))
}

/// Iterator over the attributes of a STUN message (RFC 5389 §15).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        match split_attribute(self.rest) {
            Some((attribute, rest)) => {
                self.rest = rest;
                Some(attribute)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

impl FusedIterator for Attributes<'_> {}

/// One STUN attribute: type and value without padding (RFC 5389 §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The attribute type (see [`attr`]).
    pub kind: u16,
    /// The value, without the padding to 32 bits.
    pub value: &'a [u8],
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 5769 §2.1 sample request (FINGERPRINT checked against CRC-32 when transcribed).
    #[rustfmt::skip]
    pub(crate) const RFC5769_REQUEST: [u8; 108] = [
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42,
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        0x80, 0x22, 0x00, 0x10, // SOFTWARE
        0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
        0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,
        0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, // PRIORITY
        0x80, 0x29, 0x00, 0x08, // ICE-CONTROLLED
        0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, // USERNAME "evtj:h6vY" + 3 padding
        0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20,
        0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY
        0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2,
        0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf, // FINGERPRINT
    ];

    #[test]
    fn rfc5769_binding_request() {
        assert!(is_stun(&RFC5769_REQUEST));
        let p = Packet::new_checked(&RFC5769_REQUEST[..]).unwrap();
        assert!(p.is_binding_request());
        assert_eq!(p.message_type(), MessageType::BINDING_REQUEST);
        assert_eq!(p.class(), Class::Request);
        assert_eq!(p.method(), METHOD_BINDING);
        assert_eq!(p.length(), 0x58);
        assert_eq!(p.magic_cookie(), MAGIC_COOKIE);
        assert_eq!(p.transaction_id(), RFC5769_REQUEST[8..20]);
        let kinds: Vec<_> = p.attributes().map(|a| (a.kind, a.value.len())).collect();
        assert_eq!(
            kinds,
            [
                (attr::SOFTWARE, 16),
                (attr::PRIORITY, 4),
                (attr::ICE_CONTROLLED, 8),
                (attr::USERNAME, 9),
                (attr::MESSAGE_INTEGRITY, 20),
                (attr::FINGERPRINT, 4),
            ]
        );
        assert_eq!(p.attribute(attr::USERNAME), Some(&b"evtj:h6vY"[..]));
        assert_eq!(p.attribute(attr::SOFTWARE), Some(&b"STUN test client"[..]));
        assert_eq!(p.attribute(attr::XOR_MAPPED_ADDRESS), None);
    }

    #[test]
    fn message_type_table() {
        // (type field, class, method) from RFC 5389 §6 and §18.1.
        let table = [
            (0x0001, Class::Request, 0x001),
            (0x0011, Class::Indication, 0x001),
            (0x0101, Class::SuccessResponse, 0x001),
            (0x0111, Class::ErrorResponse, 0x001),
            (0x0003, Class::Request, 0x003),
            (0x3eef, Class::Request, 0xfff),
            (0x3fff, Class::ErrorResponse, 0xfff),
        ];
        for (raw, class, method) in table {
            let t = MessageType { class, method };
            assert_eq!(MessageType::from_u16(raw), t, "{raw:#06x}");
            assert_eq!(t.to_u16(), raw);
        }
        for raw in 0..0x4000u16 {
            assert_eq!(MessageType::from_u16(raw).to_u16(), raw);
        }
    }

    #[test]
    fn build_with_setters() {
        let mut buf = [0u8; 28];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_message_type(MessageType::BINDING_REQUEST);
        p.set_length(8);
        p.set_magic_cookie(MAGIC_COOKIE);
        p.set_transaction_id(&[7; 12]);
        buf[20..28].copy_from_slice(&[0x00, 0x25, 0x00, 0x00, 0x80, 0x22, 0x00, 0x00]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.is_binding_request());
        assert_eq!(p.transaction_id(), [7; 12]);
        assert_eq!(p.attributes().count(), 2);
        assert_eq!(p.attribute(attr::USE_CANDIDATE), Some(&[][..]));
    }

    #[test]
    fn malformed_rejected() {
        let good = &RFC5769_REQUEST[..];
        let cases: Vec<(Vec<u8>, Error)> = vec![
            (vec![], Error::Truncated),
            (good[..19].to_vec(), Error::Truncated),
            // Leading bits not zero.
            (
                {
                    let mut b = good.to_vec();
                    b[0] = 0x40;
                    b
                },
                Error::Version,
            ),
            // Wrong cookie.
            (
                {
                    let mut b = good.to_vec();
                    b[7] = 0x43;
                    b
                },
                Error::Version,
            ),
            // Length not a multiple of 4.
            (
                {
                    let mut b = good.to_vec();
                    b[3] = 0x57;
                    b
                },
                Error::Malformed,
            ),
            // Length not matching the datagram (one word missing, one word extra).
            (good[..104].to_vec(), Error::Malformed),
            ([good, &[0; 4]].concat(), Error::Malformed),
        ];
        for (bytes, err) in cases {
            assert_eq!(
                Packet::new_checked(&bytes[..]).err(),
                Some(err),
                "{bytes:02x?}"
            );
            assert!(!is_stun(&bytes));
        }
        // An attribute running past the body (USERNAME says 13): the header still says
        // STUN, the checked view refuses it, the unchecked iterator stops early.
        let mut bad = good.to_vec();
        bad[63] = 13;
        assert!(is_stun(&bad));
        assert_eq!(Packet::new_checked(&bad[..]).err(), Some(Error::Malformed));
        assert_eq!(Packet::new_unchecked(&bad[..]).attributes().count(), 4);
    }

    #[test]
    fn rtp_and_rtcp_are_not_stun() {
        // RTP: first byte 0x80; RTCP SR: 0x81 200; even with the cookie in bytes 4..8.
        let mut rtp = [0u8; 20];
        rtp[0] = 0x80;
        rtp[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        assert!(!is_stun(&rtp));
        let rtcp = [
            0x81, 200, 0, 4, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(!is_stun(&rtcp));
        // A 20-byte RTP packet with version bits cleared but no cookie.
        let mut zero = [0u8; 20];
        zero[1] = 1;
        assert!(!is_stun(&zero));
    }

    fn exercise(bytes: &[u8]) {
        let p = Packet::new_unchecked(bytes);
        let _ = (
            p.message_type(),
            p.class(),
            p.method(),
            p.is_binding_request(),
        );
        let _ = (
            p.length(),
            p.magic_cookie(),
            p.transaction_id(),
            p.check_len(),
        );
        let _ = p.attributes().map(|a| a.value.len()).sum::<usize>();
        let _ = p.attribute(attr::FINGERPRINT);
        let _ = is_stun(bytes);
    }

    #[test]
    fn unchecked_garbage_never_panics() {
        for bytes in [
            &[][..],
            &[0xff],
            &[0; 20],
            &[0xff; 23],
            &RFC5769_REQUEST[..50],
        ] {
            exercise(bytes);
        }
        for i in 0..RFC5769_REQUEST.len() {
            for v in [0x00, 0x03, 0x80, 0xff] {
                let mut m = RFC5769_REQUEST;
                m[i] = v;
                exercise(&m);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            exercise(&body);
            // Also behind a valid header, so the attribute walk is reached.
            let len = u16::try_from(body.len() & !3).unwrap();
            let mut msg = vec![0x00, 0x01];
            msg.extend_from_slice(&len.to_be_bytes());
            msg.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
            msg.extend_from_slice(&[0; 12]);
            msg.extend_from_slice(&body[..usize::from(len)]);
            exercise(&msg);
        }
    }
}
