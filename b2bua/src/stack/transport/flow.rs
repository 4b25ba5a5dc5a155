//! Connections and their bookkeeping (RFC 3261 §18): which flows exist, which one reaches a
//! peer, how many come from one source, and which have gone idle. Time is passed in.

use super::Transport;
use crate::Map;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A connection's handle, unique for the table's lifetime (RFC 3261 §18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

/// One connection between the SBC and a peer (RFC 3261 §18; RFC 5626 §3.3 "flow").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The flow's handle.
    pub id: FlowId,
    /// Its transport kind.
    pub transport: Transport,
    /// The SBC's address on it as written in Via and Contact (the listener's signalling address).
    pub local: SocketAddr,
    /// The peer's address (source of an accepted connection, target of an opened one).
    pub remote: SocketAddr,
    /// Index into `Config::interfaces` of the interface the flow belongs to.
    pub interface: usize,
    /// Whether the SBC opened it (towards a next hop) rather than accepted it.
    pub outbound: bool,
}

/// Caps on connections, so that a flood of them cannot exhaust the SBC (RFC 3261 §26.1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowLimits {
    /// Most connections at once.
    pub max_flows: usize,
    /// Most accepted connections from one source IP.
    pub max_per_source: usize,
    /// A connection with no traffic (messages or RFC 5626 keep-alives) for this long is closed;
    /// `None` keeps idle connections open.
    pub idle_timeout: Option<Duration>,
}

impl Default for FlowLimits {
    fn default() -> Self {
        Self {
            max_flows: 4096,
            max_per_source: 32,
            idle_timeout: Some(Duration::from_secs(600)),
        }
    }
}

/// Why a connection was refused (RFC 3261 §18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The table holds `max_flows` connections.
    #[error("too many connections")]
    TooMany,
    /// The source IP holds `max_per_source` accepted connections.
    #[error("too many connections from {0}")]
    TooManyFromSource(IpAddr),
}

#[derive(Debug)]
struct Entry {
    flow: Flow,
    last_active: Instant,
}

/// Every open flow, indexed by id and by far end (RFC 3261 §18: connections are "indexed by the
/// tuple formed from the address, port, and transport protocol at the far end").
#[derive(Debug)]
pub struct FlowTable {
    limits: FlowLimits,
    flows: Map<FlowId, Entry>,
    by_remote: Map<(Transport, SocketAddr), FlowId>,
    inbound_per_ip: Map<IpAddr, usize>,
    next_id: u64,
}

impl FlowTable {
    /// An empty table enforcing `limits` (RFC 3261 §18).
    pub fn new(limits: FlowLimits) -> Self {
        Self {
            limits,
            flows: Map::default(),
            by_remote: Map::default(),
            inbound_per_ip: Map::default(),
            next_id: 1,
        }
    }

    /// Records a new connection, accepted (`outbound` false) or opened by the SBC, and makes it
    /// the one that reaches `remote` over `transport` (RFC 3261 §18).
    pub fn open(
        &mut self,
        now: Instant,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
        interface: usize,
        outbound: bool,
    ) -> Result<FlowId, FlowError> {
        if self.flows.len() >= self.limits.max_flows {
            return Err(FlowError::TooMany);
        }
        if !outbound {
            let n = self.inbound_per_ip.get(&remote.ip()).copied().unwrap_or(0);
            if n >= self.limits.max_per_source {
                return Err(FlowError::TooManyFromSource(remote.ip()));
            }
            self.inbound_per_ip.insert(remote.ip(), n + 1);
        }
        let id = FlowId(self.next_id);
        self.next_id += 1;
        let flow = Flow {
            id,
            transport,
            local,
            remote,
            interface,
            outbound,
        };
        self.flows.insert(
            id,
            Entry {
                flow,
                last_active: now,
            },
        );
        self.by_remote.insert((transport, remote), id);
        Ok(id)
    }

    /// The flow with this id, if it is open.
    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        self.flows.get(&id).map(|e| &e.flow)
    }

    /// The open flow that reaches `remote` over `transport`, the latest opened if several do
    /// (RFC 3261 §18.1.1, §18.2.2).
    pub fn find(&self, transport: Transport, remote: SocketAddr) -> Option<FlowId> {
        self.by_remote.get(&(transport, remote)).copied()
    }

    /// Notes traffic on a flow at `now`, which keeps it from going idle (RFC 5626 §4.4.1).
    pub fn touch(&mut self, id: FlowId, now: Instant) {
        if let Some(e) = self.flows.get_mut(&id) {
            e.last_active = e.last_active.max(now);
        }
    }

    /// Forgets a closed flow and returns it; another open flow to the same far end, if any,
    /// takes over its index entry (RFC 3261 §18).
    pub fn close(&mut self, id: FlowId) -> Option<Flow> {
        let flow = self.flows.remove(&id)?.flow;
        if !flow.outbound {
            if let Some(n) = self.inbound_per_ip.get_mut(&flow.remote.ip()) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.inbound_per_ip.remove(&flow.remote.ip());
                }
            }
        }
        let key = (flow.transport, flow.remote);
        if self.by_remote.get(&key) == Some(&id) {
            self.by_remote.remove(&key);
            let other = self
                .flows
                .values()
                .filter(|e| e.flow.transport == flow.transport && e.flow.remote == flow.remote)
                .map(|e| e.flow.id)
                .max();
            if let Some(other) = other {
                self.by_remote.insert(key, other);
            }
        }
        Some(flow)
    }

    /// The flows idle for at least the idle timeout at `now`, oldest id first; the caller closes
    /// them.
    pub fn idle(&self, now: Instant) -> Vec<FlowId> {
        let Some(limit) = self.limits.idle_timeout else {
            return Vec::new();
        };
        let mut ids: Vec<FlowId> = self
            .flows
            .values()
            .filter(|e| now.saturating_duration_since(e.last_active) >= limit)
            .map(|e| e.flow.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// How many flows are open.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is open.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const LOCAL: &str = "127.0.0.1:5060";

    #[test]
    fn finds_a_flow_by_far_end_and_forgets_it_on_close() {
        let t0 = Instant::now();
        let mut t = FlowTable::new(FlowLimits::default());
        let peer = addr("127.0.0.1:40000");
        let id = t
            .open(t0, Transport::Tcp, addr(LOCAL), peer, 0, false)
            .unwrap();
        assert_eq!(t.find(Transport::Tcp, peer), Some(id));
        assert_eq!(
            t.find(Transport::Udp, peer),
            None,
            "transport is part of the key"
        );
        assert_eq!(t.find(Transport::Tcp, addr("127.0.0.1:40001")), None);
        let flow = *t.get(id).unwrap();
        assert_eq!(flow.remote, peer);
        assert_eq!(flow.local, addr(LOCAL));
        assert!(!flow.outbound);
        assert_eq!(t.close(id), Some(flow));
        assert_eq!(t.find(Transport::Tcp, peer), None);
        assert!(t.is_empty());
        assert_eq!(t.close(id), None);
    }

    #[test]
    fn a_second_flow_to_the_same_peer_takes_over_when_the_newer_closes() {
        let t0 = Instant::now();
        let mut t = FlowTable::new(FlowLimits::default());
        let peer = addr("[::1]:5090");
        let a = t
            .open(t0, Transport::Tcp, addr("[::1]:5080"), peer, 1, true)
            .unwrap();
        let b = t
            .open(t0, Transport::Tcp, addr("[::1]:5080"), peer, 1, false)
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(t.find(Transport::Tcp, peer), Some(b), "latest wins");
        t.close(b);
        assert_eq!(
            t.find(Transport::Tcp, peer),
            Some(a),
            "the older one is still usable"
        );
        t.close(a);
        assert_eq!(t.find(Transport::Tcp, peer), None);
    }

    #[test]
    fn caps_connections_per_source_and_in_total() {
        let t0 = Instant::now();
        let mut t = FlowTable::new(FlowLimits {
            max_flows: 3,
            max_per_source: 2,
            idle_timeout: None,
        });
        let open = |t: &mut FlowTable, remote: &str, outbound| {
            t.open(t0, Transport::Tcp, addr(LOCAL), addr(remote), 0, outbound)
        };
        let first = open(&mut t, "127.0.0.2:1", false).unwrap();
        open(&mut t, "127.0.0.2:2", false).unwrap();
        assert_eq!(
            open(&mut t, "127.0.0.2:3", false),
            Err(FlowError::TooManyFromSource("127.0.0.2".parse().unwrap()))
        );
        // Connections the SBC opens itself do not count against a source.
        open(&mut t, "127.0.0.2:5090", true).unwrap();
        assert_eq!(open(&mut t, "127.0.0.3:1", false), Err(FlowError::TooMany));
        t.close(first);
        assert!(
            open(&mut t, "127.0.0.2:4", false).is_ok(),
            "a slot freed up"
        );
    }

    #[test]
    fn idle_flows_are_reported_after_the_timeout_and_traffic_resets_it() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(30);
        let mut t = FlowTable::new(FlowLimits {
            idle_timeout: Some(idle),
            ..FlowLimits::default()
        });
        let quiet = t
            .open(
                t0,
                Transport::Tcp,
                addr(LOCAL),
                addr("127.0.0.1:1"),
                0,
                false,
            )
            .unwrap();
        let busy = t
            .open(
                t0,
                Transport::Tcp,
                addr(LOCAL),
                addr("127.0.0.1:2"),
                0,
                false,
            )
            .unwrap();
        assert!(t.idle(t0 + Duration::from_secs(29)).is_empty());
        t.touch(busy, t0 + Duration::from_secs(20));
        assert_eq!(t.idle(t0 + idle), vec![quiet]);
        assert_eq!(t.idle(t0 + Duration::from_secs(50)), vec![quiet, busy]);
        let never = FlowTable::new(FlowLimits {
            idle_timeout: None,
            ..FlowLimits::default()
        });
        assert!(never.idle(t0 + Duration::from_secs(1 << 20)).is_empty());
    }
}
