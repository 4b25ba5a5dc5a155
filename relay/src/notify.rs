//! The workers' wake-up of the control plane: a datagram a worker sends after queuing an event
//! the B2BUA must act on (a latched peer, a dropped source, an idle or closed session), so the
//! control plane waits on the receiving socket instead of polling the event rings. At most one
//! datagram per drain: the first event after the reader last cleared arms the notifier, later
//! ones see it armed. Statistics events never send (they are read on the next wake-up or
//! housekeeping tick). A Unix datagram pair rather than an eventfd, so an async runtime can
//! wait on it through its safe socket API.
//!
//! The reader's order matters: consume the pending datagrams, disarm, then drain the event
//! rings ([`Notifier::clear`] does the first two); an event queued at any point after that is
//! either seen by the drain or leaves a datagram behind.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The workers' side: the sending socket and the armed flag.
#[derive(Debug)]
pub struct Notify {
    tx: UnixDatagram,
    rx: UnixDatagram,
    armed: AtomicBool,
}

impl Notify {
    /// A new, cleared notifier (a non-blocking Unix datagram pair).
    pub fn new() -> io::Result<Arc<Self>> {
        let (tx, rx) = UnixDatagram::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Arc::new(Self {
            tx,
            rx,
            armed: AtomicBool::new(false),
        }))
    }

    /// Wakes the reader unless a wake-up is already pending since it last cleared.
    pub fn signal(&self) {
        if !self.armed.swap(true, Ordering::AcqRel) {
            // A failed send only delays the event until the reader's housekeeping tick.
            let _ = self.tx.send(&[1]);
        }
    }

    /// Consumes the pending wake-ups on this process's own receiving socket, then disarms;
    /// whether there was one.
    fn clear(&self) -> bool {
        let mut buf = [0u8; 8];
        let mut woken = false;
        while self.rx.recv(&mut buf).is_ok() {
            woken = true;
        }
        self.disarm();
        woken
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }
}

/// The control plane's handle: a socket that turns readable when an event waits, and the calls
/// that clear it before the events are drained.
#[derive(Clone, Debug)]
pub struct Notifier(pub(crate) Arc<Notify>);

impl Notifier {
    /// A handle on the receiving socket (non-blocking) for an async runtime to wait on; after
    /// it turns readable, receive until it would block, then [`Notifier::disarm`], then drain.
    pub fn socket(&self) -> io::Result<UnixDatagram> {
        self.0.rx.try_clone()
    }

    /// Re-arms the workers' wake-up; call after consuming the datagrams and before draining.
    pub fn disarm(&self) {
        self.0.disarm();
    }

    /// Consumes the pending wake-ups and disarms, for a reader that polls the socket itself;
    /// whether there was one.
    pub fn clear(&self) -> bool {
        self.0.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_after_a_clear_wakes_and_later_ones_do_not_send_again() {
        let n = Notifier(Notify::new().unwrap());
        assert!(!n.clear());
        n.0.signal();
        n.0.signal();
        assert!(n.clear(), "woken");
        assert!(!n.clear(), "one clear consumes however many signals came");
        n.0.signal();
        assert!(n.clear(), "armed again after the clear");
        // A signal while armed (no clear since the last) sends nothing more.
        n.0.signal();
        n.0.signal();
        let mut buf = [0u8; 8];
        assert!(n.0.rx.recv(&mut buf).is_ok());
        assert!(n.0.rx.recv(&mut buf).is_err(), "one datagram per drain");
    }
}
