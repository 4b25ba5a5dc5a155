//! The driver's side of named next hops: a hickory resolver on the SBC's runtime asks the DNS
//! questions RFC 3263 §4 prescribes for a configured name ([`crate::routing::locate`] decides
//! them and orders the answers) and reports the addresses with SRV priority and weight and the
//! shortest TTL seen. Each lookup is bounded by `[dns] timeout_ms`; a failure is reported,
//! never waited on by a call.

use crate::endpoint::Resolution;
use crate::routing::locate::{self, default_port, Named, Naptr, Question};
use crate::routing::{transport_of, ResolvedHop};
use crate::stack::transaction::Transport;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, Resolver, TokioResolver};
use sbc_config::{Dns, HopName};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Largest number of addresses kept for one name.
const MAX_HOPS: usize = 16;

/// A resolver for `[dns]`: its servers, else the system's.
pub(super) fn resolver(dns: &Dns) -> Result<TokioResolver, ResolveError> {
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_millis(u64::from(dns.timeout_ms.max(100)));
    opts.attempts = 2;
    opts.cache_size = 256;
    let builder = if dns.servers.is_empty() {
        Resolver::builder_tokio()?
    } else {
        let mut config = ResolverConfig::new();
        for s in &dns.servers {
            config.add_name_server(NameServerConfig::new(*s, Protocol::Udp));
        }
        Resolver::builder_with_config(config, TokioConnectionProvider::default())
    };
    Ok(builder.with_options(opts).build())
}

/// Locates `name` for `transport` (RFC 3263 §4): NAPTR when neither port nor transport is
/// fixed, SRV, then A/AAAA.
pub(super) async fn locate(
    resolver: TokioResolver,
    name: HopName,
    transport: Transport,
) -> Resolution {
    let named = Named {
        host: name.host.clone(),
        port: name.port,
        transport: name.transport.map(transport_of),
        sips: name.sips,
    };
    let now = Instant::now();
    let mut until: Option<Instant> = None;
    let mut keep = |t: Instant| until = Some(until.map_or(t, |u| u.min(t)));
    let srv_names = match named.question() {
        Question::Address(_, host, port) => {
            return match addresses(&resolver, &host, port, 0, 0).await {
                Ok((hops, valid)) => Resolution::Found(hops, valid.saturating_duration_since(now)),
                Err(e) => Resolution::Failed(e.to_string()),
            }
        }
        Question::Srv(t, srv) => vec![(t, srv)],
        Question::Naptr(host) => {
            let from_naptr = match resolver.lookup(host.as_str(), RecordType::NAPTR).await {
                Ok(l) => {
                    keep(l.valid_until());
                    let records: Vec<Naptr> = l
                        .iter()
                        .filter_map(|r| match r {
                            RData::NAPTR(n) => Some(Naptr {
                                order: n.order(),
                                preference: n.preference(),
                                flags: String::from_utf8_lossy(n.flags()).into_owned(),
                                service: String::from_utf8_lossy(n.services()).into_owned(),
                                replacement: n.replacement().to_utf8(),
                            }),
                            _ => None,
                        })
                        .collect();
                    locate::from_naptr(&records, &[transport], named.sips)
                }
                Err(_) => Vec::new(),
            };
            if from_naptr.is_empty() {
                named.srv_fallback(&[transport])
            } else {
                from_naptr
            }
        }
    };
    let mut hops = Vec::new();
    let mut last_error = String::from("no SRV record");
    for (t, srv) in srv_names {
        match resolver.srv_lookup(srv.as_str()).await {
            Ok(l) => {
                keep(l.as_lookup().valid_until());
                for r in l.iter() {
                    let target = r.target().to_utf8();
                    if target == "." {
                        continue;
                    }
                    match addresses(&resolver, &target, r.port(), r.priority(), r.weight()).await {
                        Ok((found, valid)) => {
                            keep(valid);
                            hops.extend(found);
                        }
                        Err(e) => last_error = e.to_string(),
                    }
                }
                if !hops.is_empty() {
                    let _ = t;
                    break;
                }
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    if hops.is_empty() && matches!(named.question(), Question::Naptr(_) | Question::Srv(..)) {
        // No SRV: the host's own addresses on the transport's default port (RFC 3263 §4.2).
        if let Ok((found, valid)) =
            addresses(&resolver, &named.host, default_port(transport), 0, 0).await
        {
            keep(valid);
            hops = found;
        }
    }
    hops.truncate(MAX_HOPS);
    if hops.is_empty() {
        return Resolution::Failed(last_error);
    }
    let ttl = until.map_or(Duration::ZERO, |u| u.saturating_duration_since(now));
    Resolution::Found(hops, ttl)
}

/// The A/AAAA addresses of `host` on `port`, with the SRV priority and weight they came with.
async fn addresses(
    resolver: &TokioResolver,
    host: &str,
    port: u16,
    priority: u16,
    weight: u16,
) -> Result<(Vec<ResolvedHop>, Instant), ResolveError> {
    let l = resolver.lookup_ip(host).await?;
    let hops = l
        .iter()
        .map(|ip| ResolvedHop {
            addr: SocketAddr::new(ip, port),
            priority,
            weight,
        })
        .collect();
    Ok((hops, l.valid_until()))
}
