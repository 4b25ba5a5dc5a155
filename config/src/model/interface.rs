//! `[[interface]]`: one side of the SBC — its SIP sockets and transports, its media port range,
//! and the media profile of its legs (SRTP, ICE, WebRTC).

use super::*;

/// SIP transport protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP datagrams.
    #[default]
    Udp,
    /// TCP streams.
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2.1).
    Tls,
    /// SIP over WebSocket (RFC 7118): listeners only, for browsers.
    Ws,
    /// SIP over secure WebSocket (RFC 7118), with the interface's TLS certificate.
    Wss,
}

impl Transport {
    /// The lowercase name, as in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Whether it runs over a TCP connection (all but UDP share the TCP port space).
    pub fn is_stream(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// Whether it is WebSocket (RFC 7118).
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// `[[interface]]`: one side of the SBC (signalling sockets plus an RTP port range).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Unique name that routes and realms refer to (e.g. "customer", "core").
    pub name: String,
    /// Sockets the SIP stack binds on this side.
    pub listen: Vec<Listen>,
    /// Public IP written into Via/Contact/Record-Route and SDP instead of the local one (1:1 NAT).
    #[serde(default, deserialize_with = "de::opt_ip")]
    pub advertised: Option<IpAddr>,
    /// Local IP the relay binds RTP sockets on; defaults to the first listen address's IP.
    #[serde(default, deserialize_with = "de::opt_ip")]
    pub media_address: Option<IpAddr>,
    /// Lowest RTP port (even); RTCP uses RTP port + 1.
    #[serde(default = "default_rtp_port_min")]
    pub rtp_port_min: u16,
    /// Highest port of the range (odd, so the range holds whole RTP/RTCP pairs).
    #[serde(default = "default_rtp_port_max")]
    pub rtp_port_max: u16,
    /// Whether customers of the `[[realm]]`s come in here (admission, digest challenges);
    /// unset: every interface that is no route's `to_interface` and no realm's
    /// `registrar_interface` (RFC 3261 §22).
    #[serde(default)]
    pub customers: Option<bool>,
    /// The certificate, key and client CA of the interface's `tls` listeners.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsServer>,
    /// Whether legs on this side carry SRTP with SDES keys (RFC 3711, RFC 4568).
    #[serde(default)]
    pub srtp: SrtpPolicy,
    /// Whether the SBC is an ICE-lite agent on legs of this side (RFC 8445 §2.5).
    #[serde(default)]
    pub ice: IcePolicy,
    /// Origins (`https://app.example.com`) whose pages may open this interface's ws/wss
    /// listeners; empty: any origin (RFC 6455 §10.2).
    #[serde(default)]
    pub websocket_origins: Vec<String>,
    /// What the customers on this side are: SIP phones and trunks (`sip`) or browsers
    /// (`webrtc`: DTLS-SRTP, ICE-lite, rtcp-mux, `UDP/TLS/RTP/SAVPF`, RFC 8829).
    #[serde(default)]
    pub profile: MediaProfile,
}

/// The kind of media endpoint on an interface's legs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaProfile {
    /// SIP phones, PBXs and trunks: media as `srtp` and `ice` say.
    #[default]
    Sip,
    /// Browsers (RFC 8827, RFC 8829): the relay is the DTLS-SRTP endpoint (RFC 5763/5764),
    /// an ICE-lite agent (RFC 8445 §2.5), and RTCP is muxed (RFC 5761); offers are
    /// `UDP/TLS/RTP/SAVPF` with only the codecs browsers run.
    Webrtc,
}

/// ICE on a leg (RFC 8445, RFC 8839). Whatever the policy, the other leg's candidates and ICE
/// credentials never reach this one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IcePolicy {
    /// No ICE on this leg: the SBC neither offers nor answers it.
    #[default]
    Off,
    /// ICE-lite: every offer the SBC makes on this leg carries `a=ice-lite`, its own ufrag and
    /// password and a host candidate per component (the relay ports), and an offer with ICE is
    /// answered so; the relay then answers connectivity checks and latches on nomination.
    Lite,
    /// As `off`, named for configurations that want to say so: ICE removed, never offered.
    Strip,
}

/// Whether a leg's media is SRTP keyed by SDES, terminated by the relay (RFC 3711, RFC 4568).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpPolicy {
    /// Plain RTP: the SBC offers RTP/AVP without keys and refuses RTP/SAVP offers with 488.
    #[default]
    Off,
    /// SRTP when the peer wants it: offers are RTP/AVP with `a=crypto` (best effort), and an
    /// offer with or without keys is accepted.
    Optional,
    /// SRTP only: offers are RTP/SAVP with `a=crypto`, and an offer or answer without an
    /// acceptable key is refused (488 with a Warning).
    Required,
    /// DTLS-SRTP as browsers run it (RFC 5763, RFC 5764): the effect of `profile = "webrtc"`,
    /// not a value `srtp` takes.
    #[serde(skip)]
    Dtls,
}

fn default_rtp_port_min() -> u16 {
    20000
}

fn default_rtp_port_max() -> u16 {
    29999
}

impl Interface {
    /// The SRTP policy of this side's legs: DTLS-SRTP for a WebRTC side, else `srtp`.
    pub fn media_srtp(&self) -> SrtpPolicy {
        match self.profile {
            MediaProfile::Webrtc => SrtpPolicy::Dtls,
            MediaProfile::Sip => self.srtp,
        }
    }

    /// The ICE policy of this side's legs: ICE-lite for a WebRTC side, else `ice`.
    pub fn media_ice(&self) -> IcePolicy {
        match self.profile {
            MediaProfile::Webrtc => IcePolicy::Lite,
            MediaProfile::Sip => self.ice,
        }
    }

    /// The IP the relay binds media sockets on: `media_address`, else the first listen IP.
    pub fn media_ip(&self) -> IpAddr {
        self.media_address
            .or_else(|| self.listen.first().map(|l| l.address.ip()))
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// The IP to write into SDP `c=` lines: `advertised`, else [`Interface::media_ip`].
    pub fn sdp_ip(&self) -> IpAddr {
        self.advertised.unwrap_or_else(|| self.media_ip())
    }

    /// The address to write into Via/Contact for a socket bound on `local`: its IP replaced by
    /// `advertised` when set, port unchanged.
    pub fn signalling_addr(&self, local: SocketAddr) -> SocketAddr {
        match self.advertised {
            Some(ip) => SocketAddr::new(ip, local.port()),
            None => local,
        }
    }

    /// The first listen address for `transport`, if this interface has one.
    pub fn listen_for(&self, transport: Transport) -> Option<SocketAddr> {
        self.listen
            .iter()
            .find(|l| l.transport == transport)
            .map(|l| l.address)
    }
}

/// One SIP listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// `udp`, `tcp` or `tls`.
    pub transport: Transport,
    /// `ip:port` to bind (IPv6 as `[addr]:port`).
    #[serde(deserialize_with = "de::socket_addr")]
    pub address: SocketAddr,
}
