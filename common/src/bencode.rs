//! Bencode (the encoding of rtpengine's ng control protocol, after BitTorrent's BEP 3): a
//! zero-copy reader over one message and a writer into a reused buffer.
//!
//! Values borrow from the message: byte strings and dictionary keys are slices of it. Reading
//! is bounded (nesting depth, number of items) so hostile input costs little and never
//! recurses deeply; anything malformed is an [`BencodeError`], never a panic. Dictionary keys
//! are kept in message order (Kamailio and OpenSIPS do not sort them) and looked up by name.

use thiserror::Error;

/// Deepest nesting of lists and dictionaries accepted.
pub const MAX_DEPTH: usize = 16;
/// Most values (all levels together) accepted in one message.
pub const MAX_ITEMS: usize = 4096;

/// Why a message is not acceptable bencode.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum BencodeError {
    /// The message ended inside a value.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// A byte that starts no value, or a malformed number.
    #[error("unexpected byte at {0}")]
    Unexpected(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested too deep")]
    TooDeep,
    /// More than [`MAX_ITEMS`] values.
    #[error("too many items")]
    TooManyItems,
    /// Bytes after the top-level value.
    #[error("trailing bytes at {0}")]
    Trailing(usize),
    /// A dictionary key that is not a byte string.
    #[error("dictionary key at {0} is not a string")]
    BadKey(usize),
}

/// One bencoded value, borrowing from the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i<n>e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(&'a [u8]),
    /// `l...e`.
    List(Vec<Value<'a>>),
    /// `d...e`: (key, value) pairs in message order.
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The value of `key` in a dictionary (the first, if repeated).
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Self::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| *k == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A byte string as UTF-8 text.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Self::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// An integer, or a byte string holding a decimal integer (clients send both).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(n) => Some(*n),
            Self::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// A list's items.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Self::List(items) => Some(items),
            _ => None,
        }
    }

    /// Appends the encoding of this value to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Self::Bytes(b) => write_bytes(out, b),
            Self::List(items) => {
                out.push(b'l');
                for v in items {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Self::Dict(pairs) => {
                out.push(b'd');
                for (k, v) in pairs {
                    write_bytes(out, k);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// Reads the one value `msg` holds.
pub fn decode(msg: &[u8]) -> Result<Value<'_>, BencodeError> {
    let mut r = Reader {
        msg,
        at: 0,
        items: 0,
    };
    let v = r.value(0)?;
    if r.at != msg.len() {
        return Err(BencodeError::Trailing(r.at));
    }
    Ok(v)
}

struct Reader<'a> {
    msg: &'a [u8],
    at: usize,
    items: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.msg
            .get(self.at)
            .copied()
            .ok_or(BencodeError::Truncated(self.at))
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, BencodeError> {
        if depth > MAX_DEPTH {
            return Err(BencodeError::TooDeep);
        }
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(BencodeError::TooManyItems);
        }
        match self.peek()? {
            b'i' => {
                self.at += 1;
                let n = self.number(b'e')?;
                Ok(Value::Int(n))
            }
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' => {
                self.at += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.at += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.at += 1;
                let mut pairs = Vec::new();
                while self.peek()? != b'e' {
                    if !self.peek()?.is_ascii_digit() {
                        return Err(BencodeError::BadKey(self.at));
                    }
                    let k = self.bytes()?;
                    let v = self.value(depth + 1)?;
                    pairs.push((k, v));
                }
                self.at += 1;
                Ok(Value::Dict(pairs))
            }
            _ => Err(BencodeError::Unexpected(self.at)),
        }
    }

    /// A decimal integer up to `end` (consumed).
    fn number(&mut self, end: u8) -> Result<i64, BencodeError> {
        let start = self.at;
        let rest = self.msg.get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == end)
            .ok_or(BencodeError::Truncated(self.msg.len()))?;
        let text =
            std::str::from_utf8(&rest[..len]).map_err(|_| BencodeError::Unexpected(start))?;
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
            || text == "-0"
        {
            return Err(BencodeError::Unexpected(start));
        }
        let n = text.parse().map_err(|_| BencodeError::Unexpected(start))?;
        self.at = start + len + 1;
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], BencodeError> {
        let start = self.at;
        let len = self.number(b':')?;
        let len = usize::try_from(len).map_err(|_| BencodeError::Unexpected(start))?;
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.msg.len())
            .ok_or(BencodeError::Truncated(self.msg.len()))?;
        let b = &self.msg[self.at..end];
        self.at = end;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ng_offer_round_trips_with_its_keys_in_message_order() {
        let msg = b"d7:command5:offer3:sdp12:v=0\r\no=- 1 17:call-id5:c1@h15:flagsl5:trust18:SIP-source-addresse8:from-tag2:ft7:replacel6:origine5:ttl-xi-5ee";
        let v = decode(msg).unwrap();
        assert_eq!(v.get("command").and_then(Value::as_str), Some("offer"));
        assert_eq!(v.get("call-id").and_then(Value::as_str), Some("c1@h1"));
        let flags: Vec<&str> = v
            .get("flags")
            .and_then(Value::as_list)
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(flags, ["trust", "SIP-source-address"]);
        assert_eq!(v.get("ttl-x").and_then(Value::as_int), Some(-5));
        assert_eq!(v.get("missing"), None);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out, msg, "byte-identical, keys unsorted as they came");
    }

    #[test]
    fn malformed_input_is_refused_never_a_panic() {
        for (bad, why) in [
            (&b""[..], BencodeError::Truncated(0)),
            (b"d", BencodeError::Truncated(1)),
            (b"i12", BencodeError::Truncated(3)),
            (b"i-0e", BencodeError::Unexpected(1)),
            (b"i012e", BencodeError::Unexpected(1)),
            (b"ie", BencodeError::Unexpected(1)),
            (b"5:abc", BencodeError::Truncated(5)),
            (b"di1ei2ee", BencodeError::BadKey(1)),
            (b"le1", BencodeError::Trailing(2)),
            (b"x", BencodeError::Unexpected(0)),
            (b"99999999999999999999:x", BencodeError::Unexpected(0)),
        ] {
            assert_eq!(decode(bad), Err(why), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "l".repeat(MAX_DEPTH + 2) + &"e".repeat(MAX_DEPTH + 2);
        assert_eq!(decode(deep.as_bytes()), Err(BencodeError::TooDeep));
        let many = format!("l{}e", "i1e".repeat(MAX_ITEMS + 1));
        assert_eq!(decode(many.as_bytes()), Err(BencodeError::TooManyItems));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn encoded_values_decode_to_themselves(n in proptest::num::i64::ANY, s in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let v = Value::Dict(vec![
                (&b"n"[..], Value::Int(n)),
                (&b"s"[..], Value::Bytes(&s)),
                (&b"l"[..], Value::List(vec![Value::Int(n), Value::Bytes(&s)])),
            ]);
            let mut out = Vec::new();
            v.encode(&mut out);
            proptest::prop_assert_eq!(decode(&out).unwrap(), v);
        }
    }
}
