//! Final response codes that only mean something on the leg they were sent on, and what leg A
//! hears instead (RFC 3261 §16.7 step 6, RFC 7092 §3.1).

/// The code and reason leg A gets for leg B's final `code`: codes that describe leg B's own
/// transaction, dialog or extensions (not the callee) become 500, and 503 becomes 500 so that A
/// does not take the SBC itself for overloaded (RFC 3261 §16.7 step 6, §21.5.4); every other
/// code crosses with its reason.
pub(super) fn for_leg_a(code: u16, reason: &str) -> (u16, &str) {
    match code {
        // 420/421: leg B's Require/Supported are the SBC's, not A's (RFC 3261 §21.4.15, RFC 3261
        // §21.4.16); 422: leg B's session interval (RFC 4028 §6); 481/491: leg B's transaction
        // or dialog state (RFC 3261 §21.4.19, §21.4.27); 503: see above.
        420 | 421 | 422 | 481 | 491 | 503 => (500, "Server Internal Error"),
        _ => (code, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::for_leg_a;

    #[test]
    fn leg_local_codes_become_500_and_the_rest_cross_unchanged() {
        for code in [420, 421, 422, 481, 491, 503] {
            assert_eq!(
                for_leg_a(code, "x"),
                (500, "Server Internal Error"),
                "{code}"
            );
        }
        for code in [
            300, 302, 380, 400, 403, 404, 408, 480, 483, 486, 487, 488, 500, 502, 504, 600, 603,
        ] {
            assert_eq!(for_leg_a(code, "Busy Here"), (code, "Busy Here"), "{code}");
        }
    }
}
