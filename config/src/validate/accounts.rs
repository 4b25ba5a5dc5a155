//! Checks of the accounts sections: realms, users and the digest policy that protects them.

use std::collections::HashSet;

use super::{egress, fail, Check};
use crate::locate::FieldPath;
use crate::model::{Config, DigestAlgorithm, RealmMode};
use crate::types::is_valid_domain;

pub(super) fn realms(cfg: &Config) -> Check {
    let mut domains = HashSet::new();
    for (i, r) in cfg.realms.iter().enumerate() {
        let p = FieldPath::new("realm").at(i);
        if !is_valid_domain(&r.domain) {
            return fail(
                p.key("domain"),
                format!("{:?} is not a host name or IP literal", r.domain),
            );
        }
        if !domains.insert(r.domain.to_ascii_lowercase()) {
            return fail(p.key("domain"), format!("duplicate realm {:?}", r.domain));
        }
        if let Some(algs) = &r.algorithms {
            algorithm_list(algs, &p.key("algorithms"))?;
        }
        match r.mode {
            RealmMode::Forward => {
                let Some(registrar) = r.registrar else {
                    return fail(
                        p.key("registrar"),
                        "mode = \"forward\" needs `registrar` (the core registrar's ip:port)",
                    );
                };
                let Some(ifc) = &r.registrar_interface else {
                    return fail(
                        p.key("registrar_interface"),
                        "mode = \"forward\" needs `registrar_interface` (the side facing the registrar)",
                    );
                };
                if let Err(why) = egress(cfg, ifc, r.registrar_transport, registrar) {
                    return fail(p.key("registrar_interface"), why);
                }
                if r.customer_expires_s > r.core_expires_s {
                    return fail(
                        p.key("customer_expires_s"),
                        format!(
                            "{} s must not exceed core_expires_s ({} s)",
                            r.customer_expires_s, r.core_expires_s
                        ),
                    );
                }
            }
            RealmMode::Local => {
                if r.registrar.is_some() {
                    return fail(
                        p.key("registrar"),
                        "only used with mode = \"forward\" (the SBC is the registrar here)",
                    );
                }
                if r.registrar_interface.is_some() {
                    return fail(
                        p.key("registrar_interface"),
                        "only used with mode = \"forward\"",
                    );
                }
            }
        }
        if r.min_expires_s == 0 {
            return fail(p.key("min_expires_s"), "must be above 0");
        }
        if r.min_expires_s > r.max_expires_s {
            return fail(
                p.key("min_expires_s"),
                format!(
                    "{} s must not exceed max_expires_s ({} s)",
                    r.min_expires_s, r.max_expires_s
                ),
            );
        }
        if !(r.min_expires_s..=r.max_expires_s).contains(&r.customer_expires_s) {
            return fail(
                p.key("customer_expires_s"),
                format!(
                    "{} s is outside min_expires_s..=max_expires_s ({}..={})",
                    r.customer_expires_s, r.min_expires_s, r.max_expires_s
                ),
            );
        }
        if r.keepalive_interval_s != 0 && r.keepalive_failures == 0 {
            return fail(
                p.key("keepalive_failures"),
                "must be above 0 when keepalives are on",
            );
        }
        let has_users = cfg
            .users
            .iter()
            .any(|u| u.realm.eq_ignore_ascii_case(&r.domain));
        if r.auth_required && !has_users {
            return fail(
                p.key("auth_required"),
                format!(
                    "no [[user]] has realm = {:?}, so nobody could authenticate{}",
                    r.domain,
                    if r.mode == RealmMode::Forward {
                        "; set auth_required = false to let the core registrar challenge"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    Ok(())
}

pub(super) fn users(cfg: &Config) -> Check {
    let mut seen = HashSet::new();
    for (i, u) in cfg.users.iter().enumerate() {
        let p = FieldPath::new("user").at(i);
        if u.username.is_empty()
            || u.username.len() > 128
            || u.username
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | ':' | '"'))
        {
            return fail(
                p.key("username"),
                format!("{:?} is not a usable digest username", u.username),
            );
        }
        if !cfg
            .realms
            .iter()
            .any(|r| r.domain.eq_ignore_ascii_case(&u.realm))
        {
            return fail(p.key("realm"), format!("unknown realm {:?}", u.realm));
        }
        if !seen.insert((u.username.as_str(), u.realm.to_ascii_lowercase())) {
            return fail(
                p.key("username"),
                format!("duplicate user {:?} in realm {:?}", u.username, u.realm),
            );
        }
        match (&u.password, &u.ha1) {
            (Some(_), Some(_)) => {
                return fail(p.key("ha1"), "give either `password` or `ha1`, not both");
            }
            (None, None) => return fail(p, "needs `password` or `ha1`"),
            (Some(pw), None) => {
                if pw.expose().is_empty() {
                    return fail(p.key("password"), "is empty");
                }
            }
            (None, Some(ha1)) => {
                let h = ha1.expose();
                if !h.chars().all(|c| c.is_ascii_hexdigit()) {
                    return fail(p.key("ha1"), "must be hexadecimal");
                }
                let expected: &[DigestAlgorithm] = match u.algorithm {
                    Some(a) => &[a][..],
                    None => &[DigestAlgorithm::Md5, DigestAlgorithm::Sha256][..],
                };
                if !expected.iter().any(|a| a.ha1_hex_len() == h.len()) {
                    let want = expected
                        .iter()
                        .map(|a| format!("{} for {}", a.ha1_hex_len(), a.as_str()))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    return fail(
                        p.key("ha1"),
                        format!("has {} hex digits; expected {want}", h.len()),
                    );
                }
            }
        }
        if let Some(a) = u.effective_algorithm() {
            let realm_list = cfg
                .realms
                .iter()
                .find(|r| r.domain.eq_ignore_ascii_case(&u.realm))
                .and_then(|r| r.algorithms.as_ref());
            let (offered, whence) = match realm_list {
                Some(list) => (list, "its realm's algorithms"),
                None => (&cfg.auth.algorithms, "auth.algorithms"),
            };
            if !offered.contains(&a) {
                return fail(
                    p.key("algorithm"),
                    format!("{} is not offered in {whence}", a.as_str()),
                );
            }
        }
    }
    Ok(())
}

pub(super) fn auth(cfg: &Config) -> Check {
    let a = &cfg.auth;
    let p = FieldPath::new("auth");
    if !(1..=86_400).contains(&a.nonce_lifetime_s) {
        return fail(
            p.key("nonce_lifetime_s"),
            format!("{} s is outside 1..=86400", a.nonce_lifetime_s),
        );
    }
    if let Some(secret) = &a.secret {
        let n = secret.expose().chars().count();
        if n < 16 {
            return fail(
                p.key("secret"),
                format!("is {n} characters; use at least 16 (or omit it to generate one)"),
            );
        }
    }
    algorithm_list(&a.algorithms, &p.key("algorithms"))
}

/// A list of digest algorithms to offer: at least one, none twice.
fn algorithm_list(algs: &[DigestAlgorithm], p: &FieldPath) -> Check {
    if algs.is_empty() {
        return fail(p.clone(), "must offer at least one algorithm");
    }
    let mut seen = HashSet::new();
    for (i, alg) in algs.iter().enumerate() {
        if !seen.insert(*alg) {
            return fail(p.at(i), format!("{} is listed twice", alg.as_str()));
        }
    }
    Ok(())
}
