//! Validation of tel URIs (RFC 3966 §3).

use super::*;

pub(super) fn check_global_digits(digits: &str) -> Result<(), UriError> {
    if let Some(c) = digits
        .chars()
        .find(|c| !u8::try_from(*c).is_ok_and(|b| b.is_ascii_digit() || is_visual_separator(b)))
    {
        return Err(UriError::InvalidChar {
            component: Component::TelNumber,
            ch: c,
        });
    }
    if digits.bytes().any(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(UriError::BadTelNumber("global number without digits"))
    }
}

pub(super) fn check_tel(number: &str, params: &str) -> Result<(), UriError> {
    let global = if let Some(digits) = number.strip_prefix('+') {
        check_global_digits(digits)?;
        true
    } else {
        let ok =
            |b: u8| b.is_ascii_hexdigit() || matches!(b, b'*' | b'#') || is_visual_separator(b);
        if let Some(c) = number.chars().find(|c| !u8::try_from(*c).is_ok_and(ok)) {
            return Err(UriError::InvalidChar {
                component: Component::TelNumber,
                ch: c,
            });
        }
        if number.bytes().all(is_visual_separator) {
            return Err(UriError::BadTelNumber("empty number"));
        }
        false
    };
    let mut context = false;
    let mut count = 0usize;
    for item in params.split(';').filter(|_| !params.is_empty()) {
        count += 1;
        if count > MAX_PARAMS {
            return Err(UriError::TooMany);
        }
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        if name.is_empty() {
            return Err(UriError::EmptyParamName);
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(UriError::InvalidChar {
                component: Component::Param,
                ch: c,
            });
        }
        if let Some(v) = value {
            if v.is_empty() {
                return Err(UriError::EmptyParamValue);
            }
            check_chars(v, Component::Param, is_param_char)?;
        }
        if name.eq_ignore_ascii_case("phone-context") {
            context = true;
            match value {
                Some(v) => match v.strip_prefix('+') {
                    Some(digits) => check_global_digits(digits)?,
                    None => check_hostname(v)?,
                },
                None => return Err(UriError::EmptyParamValue),
            }
        }
    }
    if !global && !context {
        return Err(UriError::BadTelNumber("local number without phone-context"));
    }
    Ok(())
}
