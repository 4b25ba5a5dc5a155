//! Writing addresses and numbers into header text the SBC builds (RFC 3261 §25.1 `hostport`),
//! without the `fmt` machinery: these run for every message of every call.
//!
//! Each function appends exactly what the `Display` implementation of its argument would write.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// Appends `n` in decimal.
pub(crate) fn push_u64(out: &mut String, n: u64) {
    out.push_str(sbc_common::decimal::decimal(n, &mut Default::default()));
}

/// Appends `ip` as `Display` writes it (dotted quad, or RFC 5952 text for IPv6).
pub(crate) fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_u64(out, u64::from(o));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `addr` as `Display` writes it: `a.b.c.d:port` or `[v6]:port`.
pub(crate) fn push_socket_addr(out: &mut String, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            push_ip(out, IpAddr::V4(*a.ip()));
            out.push(':');
            push_u64(out, u64::from(a.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

/// Appends `n` as 16 lower-case hex digits, as `{:016x}` writes it.
pub(crate) fn push_hex16(out: &mut String, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [b'0'; 16];
    for (k, slot) in buf.iter_mut().enumerate() {
        let nibble = (n >> ((15 - k) * 4)) & 0xf;
        // `nibble` is below 16.
        if let Some(&d) = DIGITS.get(nibble as usize) {
            *slot = d;
        }
    }
    // Hex digits only: always UTF-8; one append rather than sixteen.
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_display_writes() {
        for n in [
            0u64,
            7,
            10,
            99,
            100,
            5060,
            65535,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
            let mut s = String::new();
            push_hex16(&mut s, n);
            assert_eq!(s, format!("{n:016x}"));
        }
        for a in [
            "127.0.0.1:5060",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "192.0.2.10:15080",
            "[2001:db8::1]:5061",
            "[::ffff:192.0.2.1]:5060",
            "[fe80::1%3]:5060",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            let mut s = String::new();
            push_socket_addr(&mut s, addr);
            assert_eq!(s, addr.to_string());
            let mut s = String::new();
            push_ip(&mut s, addr.ip());
            assert_eq!(s, addr.ip().to_string());
        }
    }
}
