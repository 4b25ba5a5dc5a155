//! A SIP peer on a TCP connection for the end-to-end tests, framing what it reads by
//! Content-Length as a real stream peer must (RFC 3261 §18.3).

use sbc_common::sip::{Frame, Limits, Message, StreamFramer};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

/// One SIP peer on a TCP connection, framing what it reads by Content-Length (RFC 3261 §18.3).
pub struct TcpPeer {
    /// The connection.
    pub stream: TcpStream,
    framer: StreamFramer,
}

impl TcpPeer {
    /// Connects to `to` (the sbc's TCP listener).
    pub fn connect(to: SocketAddr) -> Self {
        Self::from_stream(TcpStream::connect_timeout(&to, WAIT).expect("connect to the sbc"))
    }

    /// Wraps an accepted or connected stream.
    pub fn from_stream(stream: TcpStream) -> Self {
        stream.set_nonblocking(false).expect("blocking");
        Self {
            stream,
            framer: StreamFramer::new(1 << 20),
        }
    }

    /// The local address of the connection.
    pub fn local(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    /// Writes one message.
    pub fn send(&mut self, m: &Message) {
        self.send_raw(&m.to_bytes());
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// The next frame (message or keep-alive) within `timeout`; `None` on timeout or when the
    /// connection closes.
    pub fn recv_frame(&mut self, timeout: Duration) -> Option<Frame> {
        let stream = &mut self.stream;
        next_frame(&mut self.framer, timeout, |left, buf| {
            stream.set_read_timeout(Some(left))?;
            stream.read(buf)
        })
    }

    /// The next SIP message within `timeout`, keep-alives skipped.
    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        next_message(timeout, |left| self.recv_frame(left))
    }

    /// The next SIP message for which `want` holds, within `timeout`.
    pub fn recv_until(
        &mut self,
        timeout: Duration,
        want: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        message_until(timeout, |left| self.recv(left), want)
    }

    /// Whether the far end closes the connection within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
        false
    }
}

/// The next connection on `listener` within `timeout`.
pub fn accept_within(listener: &TcpListener, timeout: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).expect("nonblocking");
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        match listener.accept() {
            Ok((s, _)) => return Some(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    None
}

/// The next frame `framer` cuts from what `read(time left, buffer)` gives, within `timeout`;
/// `None` on timeout, close or a read error. Shared by the TCP and TLS peers.
pub(crate) fn next_frame(
    framer: &mut StreamFramer,
    timeout: Duration,
    mut read: impl FnMut(Duration, &mut [u8]) -> std::io::Result<usize>,
) -> Option<Frame> {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; 16384];
    loop {
        if let Some(f) = framer.poll().expect("framing") {
            return Some(f);
        }
        let left = end.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        match read(left, &mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => framer.push(&buf[..n]),
        }
    }
}

/// The next SIP message among the frames `frame(time left)` gives, keep-alives skipped.
pub(crate) fn next_message(
    timeout: Duration,
    mut frame: impl FnMut(Duration) -> Option<Frame>,
) -> Option<Message> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        if let Frame::Message(b) = frame(left)? {
            return Some(Message::parse(b, &Limits::default()).expect("parse"));
        }
    }
}

/// The next message `recv(time left)` gives for which `want` holds, within `timeout`.
pub(crate) fn message_until(
    timeout: Duration,
    mut recv: impl FnMut(Duration) -> Option<Message>,
    mut want: impl FnMut(&Message) -> bool,
) -> Option<Message> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        let m = recv(left)?;
        if want(&m) {
            return Some(m);
        }
    }
}
