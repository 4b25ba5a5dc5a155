//! Value types shared by the sections: redacted secrets, CIDR prefixes, user-part patterns, and
//! the address parsers that refuse host names (the SBC never does DNS).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// A secret string (password, HA1, key, bearer token) whose `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the code that needs it (digest computation, token comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// An IP prefix such as `192.0.2.0/24` or `2001:db8::/32` (a bare address means a single host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// Builds a prefix, refusing a length over the family's width or set host bits.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, String> {
        let width = family_width(addr);
        if prefix_len > width {
            return Err(format!("prefix length {prefix_len} is over {width}"));
        }
        let net = Self { addr, prefix_len };
        let masked = net.network();
        if masked != addr {
            return Err(format!(
                "{addr}/{prefix_len} has host bits set (did you mean {masked}/{prefix_len}?)"
            ));
        }
        Ok(net)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies in this prefix (IPv4-mapped IPv6 addresses match IPv4 prefixes).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix_len);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix_len);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(self.prefix_len)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(self.prefix_len)).into()),
        }
    }
}

fn family_width(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask32(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32_u32.saturating_sub(u32::from(prefix_len)))
        .unwrap_or(0)
}

fn mask128(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128_u32.saturating_sub(u32::from(prefix_len)))
        .unwrap_or(0)
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip_text, len_text) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (s, None),
        };
        let Ok(addr) = ip_text.parse::<IpAddr>() else {
            return Err(format!(
                "{s:?} is not an IP address or CIDR (the SBC never resolves names)"
            ));
        };
        let prefix_len = match len_text {
            None => family_width(addr),
            Some(text) => match text.parse::<u8>() {
                Ok(len) => len,
                Err(_) => return Err(format!("{s:?} is not a CIDR: bad prefix length {text:?}")),
            },
        };
        Self::new(addr, prefix_len).map_err(|why| format!("{s:?} is not a valid CIDR: {why}"))
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// One piece of a [`UserPattern`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// A literal character.
    Lit(char),
    /// `*`: any run of characters, possibly empty.
    Star,
}

/// A Request-URI user-part pattern: literal text where `*` matches any run of characters
/// (`+1*`); `\*` is a literal star (feature codes such as `\*72`) and `\\` a backslash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserPattern {
    text: String,
    pieces: Vec<Piece>,
}

impl UserPattern {
    /// The pattern as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the user part `user` matches (case-sensitive, as user parts are).
    pub fn matches(&self, user: &str) -> bool {
        let text: Vec<char> = user.chars().collect();
        let (mut p, mut t) = (0_usize, 0_usize);
        // Classic greedy wildcard matching with one backtrack point: linear in practice.
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match (self.pieces.get(p), text.get(t)) {
                (Some(Piece::Lit(c)), Some(ch)) if c == ch => {
                    p += 1;
                    t += 1;
                }
                (Some(Piece::Star), _) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.pieces
            .get(p..)
            .is_some_and(|rest| rest.iter().all(|piece| *piece == Piece::Star))
    }
}

impl FromStr for UserPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("is empty".to_owned());
        }
        if s.chars().count() > 128 {
            return Err("is longer than 128 characters".to_owned());
        }
        let mut pieces = Vec::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c.is_whitespace() || c.is_control() || matches!(c, '@' | '<' | '>' | '"') {
                return Err(format!(
                    "{s:?} contains {c:?}, which cannot be in a user part"
                ));
            }
            match c {
                '*' => pieces.push(Piece::Star),
                '\\' => match chars.next() {
                    Some(next @ ('*' | '\\')) => pieces.push(Piece::Lit(next)),
                    _ => {
                        return Err(format!(
                            "{s:?}: a backslash must be followed by `*` or `\\`"
                        ))
                    }
                },
                other => pieces.push(Piece::Lit(other)),
            }
        }
        Ok(Self {
            text: s.to_owned(),
            pieces,
        })
    }
}

impl<'de> Deserialize<'de> for UserPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|why| D::Error::custom(format!("pattern {why}")))
    }
}

/// Parses an `ip:port` literal (IPv6 in brackets); host names and port 0 are refused.
pub(crate) fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    match s.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => Err(format!("{s:?} has port 0")),
        Ok(addr) => Ok(addr),
        Err(_) if s.parse::<IpAddr>().is_ok() => {
            if s.contains(':') {
                Err(format!(
                    "{s:?} is not an ip:port (an IPv6 address needs brackets and a port: [{s}]:5060)"
                ))
            } else {
                Err(format!("{s:?} is not an ip:port (the port is missing)"))
            }
        }
        Err(_) => {
            let host_is_ip = s.rsplit_once(':').is_some_and(|(host, _)| {
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                host.parse::<IpAddr>().is_ok()
            });
            if host_is_ip {
                Err(format!("{s:?} has an invalid port (1-65535)"))
            } else {
                Err(format!(
                    "{s:?} is not an ip:port (the SBC never resolves names)"
                ))
            }
        }
    }
}

/// Parses an IP address literal; host names are refused.
pub(crate) fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>().map_err(|_| {
        if parse_socket_addr(s).is_ok() {
            format!("{s:?} is not an IP address (no port here)")
        } else {
            format!("{s:?} is not an IP address (the SBC never resolves names)")
        }
    })
}

/// Whether `s` is a domain usable in a SIP URI host: a host name or an IP literal.
pub(crate) fn is_valid_domain(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Whether `s` is an RFC 3261 `token` (header names, node names).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '-' | '.' | '!' | '%' | '*' | '_' | '+' | '`' | '\'' | '~'
                )
        })
}

/// Whether `s` is a configuration name (interfaces, routes): letters, digits, `-`, `_`.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `deserialize_with` helpers that give the SBC's own error text for addresses.
pub(crate) mod de {
    use super::{parse_ip, parse_socket_addr};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};
    use std::net::{IpAddr, SocketAddr};

    /// An `ip:port` literal.
    pub(crate) fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let text = String::deserialize(d)?;
        parse_socket_addr(&text).map_err(D::Error::custom)
    }

    /// A list of `ip:port` literals.
    pub(crate) fn socket_addrs<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<SocketAddr>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| parse_socket_addr(t).map_err(D::Error::custom))
            .collect()
    }

    /// An optional `ip:port` literal.
    pub(crate) fn opt_socket_addr<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        socket_addr(d).map(Some)
    }

    /// An IP address literal.
    pub(crate) fn ip<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
        let text = String::deserialize(d)?;
        parse_ip(&text).map_err(D::Error::custom)
    }

    /// An optional IP address literal.
    pub(crate) fn opt_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        ip(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_matches() {
        let net: IpNet = "192.0.2.0/24".parse().unwrap();
        assert!(net.contains("192.0.2.77".parse().unwrap()));
        assert!(!net.contains("192.0.3.1".parse().unwrap()));
        assert!(net.contains("::ffff:192.0.2.9".parse().unwrap()));
        assert!(!net.contains("2001:db8::1".parse().unwrap()));
        let host: IpNet = "198.51.100.7".parse().unwrap();
        assert_eq!(host.prefix_len(), 32);
        let any: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("203.0.113.1".parse().unwrap()));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert_eq!(v6.to_string(), "2001:db8::/32");
    }

    #[test]
    fn cidr_errors() {
        assert_eq!(
            "192.0.2.1/24".parse::<IpNet>().unwrap_err(),
            "\"192.0.2.1/24\" is not a valid CIDR: 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)"
        );
        assert!("10.0.0.0/33"
            .parse::<IpNet>()
            .unwrap_err()
            .contains("over 32"));
        assert!("10.0.0.0/x".parse::<IpNet>().is_err());
        assert!("trunk.example.com"
            .parse::<IpNet>()
            .unwrap_err()
            .contains("never resolves names"));
    }

    #[test]
    fn user_pattern_glob() {
        let p: UserPattern = "+1*".parse().unwrap();
        assert!(p.matches("+15551234567"));
        assert!(p.matches("+1"));
        assert!(!p.matches("+44123"));
        let p: UserPattern = "*00".parse().unwrap();
        assert!(p.matches("1200"));
        assert!(!p.matches("1201"));
        let p: UserPattern = "a*b*c".parse().unwrap();
        assert!(p.matches("abc") && p.matches("aXXbYYc") && p.matches("abbbc"));
        assert!(!p.matches("acb"));
        let p: UserPattern = r"\*72".parse().unwrap();
        assert!(p.matches("*72"));
        assert!(!p.matches("972"));
        let p: UserPattern = "alice".parse().unwrap();
        assert!(p.matches("alice") && !p.matches("Alice") && !p.matches("alice2"));
        assert!("a b".parse::<UserPattern>().is_err());
        assert!(r"x\".parse::<UserPattern>().is_err());
        assert!("".parse::<UserPattern>().is_err());
    }

    #[test]
    fn socket_addr_messages() {
        assert_eq!(
            parse_socket_addr("core.example.com:5060").unwrap_err(),
            "\"core.example.com:5060\" is not an ip:port (the SBC never resolves names)"
        );
        assert!(parse_socket_addr("192.0.2.1")
            .unwrap_err()
            .contains("port is missing"));
        assert!(parse_socket_addr("2001:db8::1")
            .unwrap_err()
            .contains("needs brackets"));
        assert!(parse_socket_addr("192.0.2.1:0")
            .unwrap_err()
            .contains("port 0"));
        assert_eq!(
            parse_socket_addr("[2001:db8::1]:5060").unwrap().port(),
            5060
        );
        assert!(parse_ip("192.0.2.1:5060").unwrap_err().contains("no port"));
    }

    #[test]
    fn names_and_domains() {
        assert!(is_valid_domain("sip.example.com"));
        assert!(is_valid_domain("192.0.2.10"));
        assert!(is_valid_domain("[2001:db8::1]"));
        assert!(!is_valid_domain("bad_domain.com"));
        assert!(!is_valid_domain("a..b"));
        assert!(is_token("X-Account-Id"));
        assert!(!is_token("X Account"));
        assert!(is_name("core_1-a"));
        assert!(!is_name("core.1"));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2hunter2");
    }
}
