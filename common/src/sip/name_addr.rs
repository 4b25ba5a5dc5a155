//! name-addr / addr-spec views for From, To, Contact, Route, Record-Route, Refer-To and
//! Referred-By (RFC 3261 §20.10, §20.20, §20.39, §25.1).

use super::fields::HeaderError;
use super::params::{find_byte, quoted_end, trim_ws, trim_ws_start, unquote, Params};
use std::borrow::Cow;

/// A `name-addr` (`"Display" <uri>;params`) or `addr-spec` (`uri;params`), borrowed from the message.
#[derive(Clone, Copy, Debug)]
pub struct NameAddr<'a> {
    /// The display name as written (quoted or a token sequence), if any.
    pub display: Option<&'a str>,
    /// The URI text, without angle brackets.
    pub uri: &'a str,
    /// Whether the URI was enclosed in `<…>`.
    pub bracketed: bool,
    /// The header parameters after the address (`tag`, `expires`, `q`, ...).
    pub params: Params<'a>,
    /// The `tag` value when the message's view cache already looked it up (From and To read
    /// from a parsed message); `None` when [`NameAddr::tag`] has to search the parameters.
    pub(crate) tag_hint: Option<Option<&'a str>>,
}

/// Two addresses are equal when their text is, whether or not a tag was looked up in advance.
impl PartialEq for NameAddr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.display == other.display
            && self.uri == other.uri
            && self.bracketed == other.bracketed
            && self.params == other.params
    }
}

impl Eq for NameAddr<'_> {}

impl<'a> NameAddr<'a> {
    /// Parses one name-addr or addr-spec; in an addr-spec the `;params` belong to the header,
    /// not the URI (RFC 3261 §20.10).
    pub fn parse(s: &'a str) -> Result<Self, HeaderError> {
        Self::parse_named(s, "address")
    }

    pub(crate) fn parse_named(s: &'a str, header: &'static str) -> Result<Self, HeaderError> {
        let err = |reason| HeaderError::new(header, reason);
        let s = trim_ws(s);
        if s.is_empty() {
            return Err(err("empty address"));
        }
        let (display, rest) = if s.starts_with('"') {
            let end = quoted_end(s).ok_or_else(|| err("unterminated display name"))?;
            let (d, rest) = s
                .split_at_checked(end)
                .ok_or_else(|| err("bad display name"))?;
            let rest = trim_ws_start(rest);
            if !rest.starts_with('<') {
                return Err(err("display name without <URI>"));
            }
            (Some(d), rest)
        } else if let Some(lt) = find_byte(s, b'<') {
            let (d, rest) = s.split_at_checked(lt).ok_or_else(|| err("bad address"))?;
            let d = trim_ws(d);
            (if d.is_empty() { None } else { Some(d) }, rest)
        } else {
            (None, s)
        };
        let (uri, bracketed, params) = if let Some(r) = rest.strip_prefix('<') {
            let gt = find_byte(r, b'>').ok_or_else(|| err("missing '>'"))?;
            let (uri, tail) = r.split_at_checked(gt).ok_or_else(|| err("bad address"))?;
            // LAQUOT addr-spec RAQUOT: no whitespace inside the brackets (RFC 3261 §25.1;
            // RFC 4475 §3.1.2.13 wants 400 for it).
            (uri, true, tail.get(1..).unwrap_or(""))
        } else {
            match find_byte(rest, b';') {
                Some(i) => {
                    let (u, p) = rest.split_at_checked(i).ok_or_else(|| err("bad address"))?;
                    (trim_ws(u), false, p)
                }
                None => (trim_ws(rest), false, ""),
            }
        };
        let spaced = uri.bytes().any(|b| b.is_ascii_whitespace())
            || (!uri.is_ascii() && uri.contains(char::is_whitespace));
        if uri.is_empty() || spaced || find_byte(uri, b':').is_none() {
            return Err(err("bad URI"));
        }
        if !bracketed && memchr::memchr2(b',', b'?', uri.as_bytes()).is_some() {
            // RFC 3261 §20.10: a URI with a comma, question mark or semicolon must be bracketed.
            return Err(err("URI with ',' or '?' must be in <>"));
        }
        let params = Params::new(params);
        params.validate().map_err(err)?;
        Ok(Self {
            display,
            uri,
            bracketed,
            params,
            tag_hint: None,
        })
    }

    /// The display name with quotes and escapes removed.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display.map(unquote)
    }

    /// The `tag` parameter of From/To (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a str> {
        match self.tag_hint {
            Some(tag) => tag,
            None => self.params.value("tag"),
        }
    }

    /// The Contact `expires` parameter in seconds (RFC 3261 §20.10).
    pub fn expires(&self) -> Option<u32> {
        self.params.value("expires").and_then(|v| v.parse().ok())
    }

    /// The Contact `q` value in thousandths (RFC 3261 §20.10): `q=0.5` is 500; invalid values are `None`.
    pub fn q(&self) -> Option<u16> {
        parse_qvalue(self.params.value("q")?)
    }

    /// The `+sip.instance` Contact parameter with its quotes and `<>` removed (RFC 5626 §4.1).
    pub fn instance(&self) -> Option<&'a str> {
        let v = self.params.value("+sip.instance")?;
        Some(
            v.strip_prefix('<')
                .and_then(|v| v.strip_suffix('>'))
                .unwrap_or(v),
        )
    }

    /// The `reg-id` Contact parameter (RFC 5626 §4.2).
    pub fn reg_id(&self) -> Option<u32> {
        self.params.value("reg-id").and_then(|v| v.parse().ok())
    }
}

/// A Contact header element: `*` or an address (RFC 3261 §20.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *`, only valid in a REGISTER with `Expires: 0` (RFC 3261 §10.2.2).
    Star,
    /// One contact address.
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses one Contact list element.
    pub fn parse(s: &'a str) -> Result<Self, HeaderError> {
        if s.trim() == "*" {
            Ok(Self::Star)
        } else {
            NameAddr::parse_named(s, "Contact").map(Self::Addr)
        }
    }
}

/// Parses an RFC 3261 §25.1 `qvalue` (`0`..`1` with up to three decimals) into thousandths.
pub fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        let scale = [100u16, 10, 1].get(i).copied().unwrap_or(0);
        thousandths += u16::from(b - b'0') * scale;
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(r#""Bob \"B\"" <sip:bob@biloxi.com>;tag=a6c85cf"#).unwrap();
        assert_eq!(a.display_name().as_deref(), Some(r#"Bob "B""#));
        assert_eq!(a.uri, "sip:bob@biloxi.com");
        assert!(a.bracketed);
        assert_eq!(a.tag(), Some("a6c85cf"));

        let a =
            NameAddr::parse("Alice <sip:alice@atlanta.com;transport=tcp>;tag=1928301774").unwrap();
        assert_eq!(a.display, Some("Alice"));
        assert_eq!(a.uri, "sip:alice@atlanta.com;transport=tcp");
        assert_eq!(a.tag(), Some("1928301774"));

        // addr-spec: parameters belong to the header, not the URI.
        let a = NameAddr::parse("sip:carol@chicago.com;tag=xyz").unwrap();
        assert_eq!(a.uri, "sip:carol@chicago.com");
        assert!(!a.bracketed);
        assert_eq!(a.tag(), Some("xyz"));

        let a = NameAddr::parse("<sip:[2001:db8::1]:5060>").unwrap();
        assert_eq!(a.uri, "sip:[2001:db8::1]:5060");
        assert_eq!(a.display, None);
    }

    #[test]
    fn contact_params() {
        let c = Contact::parse(
            r#"<sip:line1@192.0.2.2;transport=tcp>;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";expires=3600;q=0.7"#,
        )
        .unwrap();
        let Contact::Addr(a) = c else { panic!("star") };
        assert_eq!(a.reg_id(), Some(1));
        assert_eq!(
            a.instance(),
            Some("urn:uuid:00000000-0000-1000-8000-000A95A0E128")
        );
        assert_eq!(a.expires(), Some(3600));
        assert_eq!(a.q(), Some(700));
        assert_eq!(Contact::parse(" * ").unwrap(), Contact::Star);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("0.001"), Some(1));
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue("2"), None);
        assert_eq!(parse_qvalue("0.x"), None);
    }

    #[test]
    fn bad_addresses() {
        for bad in [
            "",
            "<sip:a@b",
            "\"unterminated <sip:a@b>",
            "\"Name\" sip:a@b",
            "<>",
            "<sip:a b@c>",
            "sip:a@b?subject=x",
            "nocolon",
            "<sip:a@b>;bad param=1",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
