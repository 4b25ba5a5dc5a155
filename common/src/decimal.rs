//! Decimal digits of an integer written without the `fmt` machinery: header and SDP text is built
//! for every message, and `fmt` costs several times a plain digit loop.

/// Room for the digits of any `u64`.
pub type Digits = [u8; 20];

/// The decimal digits of `n`, written at the end of `buf`.
pub fn decimal(n: u64, buf: &mut Digits) -> &str {
    let mut n = n;
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(d) = buf.get_mut(i) {
            // `n % 10` is below 10.
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    // Digits only: always UTF-8.
    std::str::from_utf8(buf.get(i..).unwrap_or_default()).unwrap_or_default()
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
            assert_eq!(decimal(n, &mut Digits::default()), n.to_string());
        }
    }
}
