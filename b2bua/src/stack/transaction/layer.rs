//! The transaction layer: owns every transaction, matches messages to them (RFC 3261 §17.1.3,
//! §17.2.3) and drives their timers from one heap.

use super::client_invite::{ClientInvite, ClientInviteState};
use super::client_non_invite::{ClientNonInvite, ClientNonInviteState};
use super::key::{ClientKey, ServerKey, TxKey};
use super::server_invite::{ServerInvite, ServerInviteState};
use super::server_non_invite::{ServerNonInvite, ServerNonInviteState};
use super::table::Table;
use super::timers::{Timer, TimerConfig};
use super::{Effect, TransactionError};
pub use crate::stack::transport::{Dest, Transport};
use bytes::Bytes;
use sbc_common::sip::{Message, Method};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

/// A transaction's handle: its slot in the layer's table and that slot's generation, so a handle
/// kept after its transaction ended never names a later one (RFC 3261 §17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub(super) u64);

impl TxId {
    /// The raw number, for logs (RFC 3261 §17).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Bytes to send to a peer (RFC 3261 §17, §18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send them.
    pub dest: Dest,
    /// The serialized message.
    pub bytes: Bytes,
    /// The transaction that sent them, `None` for [`TransactionLayer::send_stateless`].
    pub tx: Option<TxId>,
}

/// What the layer tells the transaction user (RFC 3261 §17).
#[derive(Clone, Debug, PartialEq)]
pub enum TxEvent {
    /// A new request created server transaction `tx` (RFC 3261 §17.2); answer it with
    /// [`TransactionLayer::send_response`].
    Request {
        /// The new server transaction.
        tx: TxId,
        /// The request.
        msg: Message,
        /// Where it came from; responses go back there.
        source: Dest,
    },
    /// A response for client transaction `tx`: provisionals, the final, and in Accepted every 2xx
    /// (RFC 3261 §17.1.1.2, §17.1.2.2, RFC 6026 §8.4).
    Response {
        /// The client transaction.
        tx: TxId,
        /// The response.
        msg: Message,
    },
    /// An ACK that matched INVITE server transaction `tx` in Accepted: an ACK for its 2xx, for
    /// the dialog (RFC 6026 §8.7).
    Ack {
        /// The INVITE server transaction.
        tx: TxId,
        /// The ACK.
        msg: Message,
    },
    /// An ACK matching no transaction, normally the ACK for a 2xx with its own branch
    /// (RFC 3261 §17.2.3, §13.3.1.4); the dialog handles it.
    StrayAck {
        /// The ACK.
        msg: Message,
        /// Where it came from.
        source: Dest,
    },
    /// A response matching no client transaction, such as a 2xx retransmitted after timer M
    /// (RFC 3261 §18.1.2, RFC 6026 §8.4); the dialog may ACK it again.
    StrayResponse {
        /// The response.
        msg: Message,
    },
    /// Timer B or F fired before a final response (RFC 3261 §17.1.1.2, §17.1.2.2); treat as 408.
    Timeout {
        /// The client transaction.
        tx: TxId,
        /// B or F.
        timer: Timer,
    },
    /// Timer H fired: the non-2xx final was never ACKed (RFC 3261 §17.2.1).
    NoAck {
        /// The INVITE server transaction.
        tx: TxId,
    },
    /// The transport failed to send for `tx` (RFC 3261 §17.1.4, §17.2.4).
    TransportError {
        /// The transaction.
        tx: TxId,
    },
    /// Transaction `tx` reached Terminated and is gone (RFC 3261 §17).
    Terminated {
        /// The transaction.
        tx: TxId,
    },
}

/// One item drained from the layer with [`TransactionLayer::poll_output`] (RFC 3261 §17).
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send bytes to a peer.
    Transmit(Transmit),
    /// Tell the TU something.
    Event(TxEvent),
}

/// A transaction's state, whatever its kind (RFC 3261 §17.1, §17.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    /// INVITE client (RFC 3261 §17.1.1).
    ClientInvite(ClientInviteState),
    /// Non-INVITE client (RFC 3261 §17.1.2).
    ClientNonInvite(ClientNonInviteState),
    /// INVITE server (RFC 3261 §17.2.1).
    ServerInvite(ServerInviteState),
    /// Non-INVITE server (RFC 3261 §17.2.2).
    ServerNonInvite(ServerNonInviteState),
}

#[derive(Debug)]
enum Machine {
    InviteClient(Box<ClientInvite>),
    NonInviteClient(ClientNonInvite),
    InviteServer(ServerInvite),
    NonInviteServer(ServerNonInvite),
}

impl Machine {
    fn next_deadline(&self) -> Option<Instant> {
        match self {
            Self::InviteClient(m) => m.next_deadline(),
            Self::NonInviteClient(m) => m.next_deadline(),
            Self::InviteServer(m) => m.next_deadline(),
            Self::NonInviteServer(m) => m.next_deadline(),
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Effect>) {
        match self {
            Self::InviteClient(m) => m.on_timer(now, out),
            Self::NonInviteClient(m) => m.on_timer(now, out),
            Self::InviteServer(m) => m.on_timer(now, out),
            Self::NonInviteServer(m) => m.on_timer(now, out),
        }
    }

    fn on_transport_error(&mut self, out: &mut Vec<Effect>) {
        match self {
            Self::InviteClient(m) => m.on_transport_error(out),
            Self::NonInviteClient(m) => m.on_transport_error(out),
            Self::InviteServer(m) => m.on_transport_error(out),
            Self::NonInviteServer(m) => m.on_transport_error(out),
        }
    }

    fn state(&self) -> TxState {
        match self {
            Self::InviteClient(m) => TxState::ClientInvite(m.state()),
            Self::NonInviteClient(m) => TxState::ClientNonInvite(m.state()),
            Self::InviteServer(m) => TxState::ServerInvite(m.state()),
            Self::NonInviteServer(m) => TxState::ServerNonInvite(m.state()),
        }
    }
}

/// The transactions' keys, each stored once (in its [`Entry`]): the index holds only ids,
/// matched by the key's hash and compared against the entry (RFC 3261 §17.1.3, §17.2.3). A map
/// from a copy of each key would keep 170-byte buckets, and a table under steady churn grows
/// once to twice its buckets (hashbrown rehashes rather than reuses deleted slots when over half
/// full): with tens of thousands of transactions in their wait states that step was 11 MB.
#[derive(Default)]
struct KeyIndex {
    ids: hashbrown::HashTable<TxId>,
    hasher: foldhash::quality::RandomState,
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyIndex")
            .field("len", &self.ids.len())
            .finish()
    }
}

impl KeyIndex {
    fn hash(&self, key: &TxKey) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, key)
    }

    /// The live transaction with this key.
    fn get(&self, key: &TxKey, txs: &Table<Entry>) -> Option<TxId> {
        self.ids
            .find(self.hash(key), |id| {
                txs.get(*id).is_some_and(|e| e.key == *key)
            })
            .copied()
    }

    /// Indexes `id`, whose entry (already in `txs`) has a key hashing to `hash`; an entry with
    /// the same key is replaced.
    fn insert(&mut self, hash: u64, id: TxId, txs: &Table<Entry>) {
        let Some(key) = txs.get(id).map(|e| &e.key) else {
            return;
        };
        let same = |other: &TxId| txs.get(*other).is_some_and(|e| e.key == *key);
        if let Some(slot) = self.ids.find_mut(hash, same) {
            *slot = id;
            return;
        }
        let hasher = &self.hasher;
        let rehash = |other: &TxId| {
            txs.get(*other)
                .map_or(0, |e| std::hash::BuildHasher::hash_one(hasher, &e.key))
        };
        // Kept at most half full: under churn hashbrown then rehashes in place, so the index
        // grows while the load rises and not minutes into a steady one (the soak's last step).
        if self.ids.len() * 2 >= self.ids.capacity() {
            self.ids.reserve(self.ids.len().max(16), rehash);
        }
        self.ids.insert_unique(hash, id, rehash);
    }

    /// Forgets `id`, whose entry had `key` (it may be gone from the table already).
    fn remove(&mut self, key: &TxKey, id: TxId) {
        if let Ok(entry) = self.ids.find_entry(self.hash(key), |other| *other == id) {
            entry.remove();
        }
    }
}

#[derive(Debug)]
struct Entry {
    key: TxKey,
    /// The client's destination, or the server's request source.
    peer: Dest,
    machine: Machine,
    /// The deadline currently in the heap for this entry, if any.
    armed: Option<Instant>,
    /// Bumped whenever `armed` changes; heap entries with an older generation are stale.
    generation: u64,
    /// The To tag of the latest response sent by an RFC 2543 server transaction, for its ACK
    /// matching (RFC 3261 §17.2.3).
    response_to_tag: Option<String>,
}

/// Every live transaction, matched by key, with one timer heap (RFC 3261 §17).
///
/// After each `handle_*` or `send_*` call, drain [`TransactionLayer::poll_output`] until `None`
/// and sleep until [`TransactionLayer::poll_timeout`], then call
/// [`TransactionLayer::handle_timer`].
#[derive(Debug)]
pub struct TransactionLayer {
    cfg: TimerConfig,
    txs: Table<Entry>,
    keys: KeyIndex,
    heap: BinaryHeap<Reverse<(Instant, TxId, u64)>>,
    out: VecDeque<Output>,
    scratch: Vec<Effect>,
}

impl Default for TransactionLayer {
    fn default() -> Self {
        Self::new(TimerConfig::default())
    }
}

impl TransactionLayer {
    /// An empty layer using these T1/T2/T4 (RFC 3261 §17, Appendix A).
    pub fn new(cfg: TimerConfig) -> Self {
        Self {
            cfg,
            txs: Table::default(),
            keys: KeyIndex::default(),
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// The timer configuration (RFC 3261 Appendix A).
    pub fn config(&self) -> TimerConfig {
        self.cfg
    }

    /// How many transactions are live (RFC 3261 §17).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Entries in the timer heap, stale ones included (they leave when they come due).
    pub fn timer_entries(&self) -> usize {
        self.heap.len()
    }

    /// Whether no transaction is live (RFC 3261 §17).
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The state of transaction `tx`, `None` once it has terminated (RFC 3261 §17).
    pub fn state(&self, tx: TxId) -> Option<TxState> {
        self.txs.get(tx).map(|e| e.machine.state())
    }

    /// Starts a client transaction for a request the TU built, with an RFC 3261 branch in its top
    /// Via, and sends it to `dest` (RFC 3261 §17.1); reliability follows `dest.transport`.
    pub fn send_request(
        &mut self,
        now: Instant,
        msg: Message,
        dest: Dest,
    ) -> Result<TxId, TransactionError> {
        let key = TxKey::Client(ClientKey::from_request(&msg)?);
        if self.keys.get(&key, &self.txs).is_some() {
            return Err(TransactionError::Duplicate);
        }
        let reliable = dest.transport.is_reliable();
        let mut effects = std::mem::take(&mut self.scratch);
        let machine = if msg.method() == Some(&Method::Invite) {
            Machine::InviteClient(Box::new(ClientInvite::new(
                now,
                msg,
                reliable,
                self.cfg,
                &mut effects,
            )))
        } else {
            Machine::NonInviteClient(ClientNonInvite::new(
                now,
                &msg,
                reliable,
                self.cfg,
                &mut effects,
            ))
        };
        let id = self.insert(key, dest, machine);
        self.finish(id, effects);
        Ok(id)
    }

    /// Sends a response from the TU through server transaction `tx`, to the request's source
    /// (RFC 3261 §17.2.1, §17.2.2, RFC 6026 §8.7).
    pub fn send_response(
        &mut self,
        now: Instant,
        tx: TxId,
        msg: &Message,
    ) -> Result<(), TransactionError> {
        let entry = self
            .txs
            .get_mut(tx)
            .ok_or(TransactionError::UnknownTransaction(tx))?;
        let mut effects = std::mem::take(&mut self.scratch);
        let result = match &mut entry.machine {
            Machine::InviteServer(m) => m.send_response(now, msg, &mut effects),
            Machine::NonInviteServer(m) => m.send_response(now, msg, &mut effects),
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {
                Err(TransactionError::WrongRole)
            }
        };
        // Only an RFC 2543 ACK is matched by the To tag (find_server): an RFC 3261 transaction
        // neither reads the response's To again nor keeps a copy of its tag.
        let rfc2543 = matches!(&entry.key, TxKey::Server(k) if k.is_rfc2543());
        if result.is_ok() && rfc2543 {
            if let Some(tag) = msg.to().and_then(|t| t.tag()) {
                entry.response_to_tag = Some(tag.to_owned());
            }
        }
        self.finish(tx, effects);
        result
    }

    /// Queues a message already serialized, sent outside any transaction: the dialog's ACK for
    /// a 2xx or its 2xx retransmissions (RFC 3261 §13.2.2.4, §13.3.1.4).
    pub fn send_bytes(&mut self, bytes: Bytes, dest: Dest) {
        self.out.push_back(Output::Transmit(Transmit {
            dest,
            bytes,
            tx: None,
        }));
    }

    /// Queues a message sent outside any transaction, such as a stateless answer
    /// (RFC 3261 §8.2.7, §13.2.2.4).
    pub fn send_stateless(&mut self, msg: &Message, dest: Dest) {
        self.out.push_back(Output::Transmit(Transmit {
            dest,
            bytes: msg.to_bytes(),
            tx: None,
        }));
    }

    /// Feeds a received request: a retransmission or ACK goes to its server transaction, a new
    /// request creates one and goes up, an unmatched ACK goes up as stray (RFC 3261 §17.2.3).
    pub fn handle_request(
        &mut self,
        now: Instant,
        msg: Message,
        source: Dest,
    ) -> Result<(), TransactionError> {
        let key = ServerKey::from_request(&msg)?;
        let is_ack = msg.method() == Some(&Method::Ack);
        if let Some(id) = self.find_server(&key, &msg, is_ack) {
            if !is_ack {
                // A retransmission is answered where it came from: the client may sit behind a
                // NAT whose binding changed, or resend from a new port (RFC 3581 §4).
                if let Some(e) = self.txs.get_mut(id) {
                    e.peer = source;
                }
            }
            self.step(id, |machine, out| match machine {
                Machine::InviteServer(m) => m.on_request(now, msg, out),
                Machine::NonInviteServer(m) => m.on_request(now, msg, out),
                Machine::InviteClient(_) | Machine::NonInviteClient(_) => {}
            });
            return Ok(());
        }
        if is_ack {
            self.out
                .push_back(Output::Event(TxEvent::StrayAck { msg, source }));
            return Ok(());
        }
        let reliable = source.transport.is_reliable();
        let mut effects = std::mem::take(&mut self.scratch);
        let machine = if msg.method() == Some(&Method::Invite) {
            Machine::InviteServer(ServerInvite::new(
                now,
                &msg,
                reliable,
                self.cfg,
                &mut effects,
            ))
        } else {
            Machine::NonInviteServer(ServerNonInvite::new(reliable, self.cfg))
        };
        let id = self.insert(TxKey::Server(key), source, machine);
        self.out.push_back(Output::Event(TxEvent::Request {
            tx: id,
            msg,
            source,
        }));
        self.finish(id, effects);
        Ok(())
    }

    /// Feeds a received response to the client transaction it matches by top Via branch and CSeq
    /// method, or passes it up as stray (RFC 3261 §17.1.3, §18.1.2).
    pub fn handle_response(&mut self, now: Instant, msg: Message) -> Result<(), TransactionError> {
        if msg.status().is_none() {
            return Err(TransactionError::Malformed("not a response"));
        }
        let key = TxKey::Client(ClientKey::from_response(&msg)?);
        match self.keys.get(&key, &self.txs) {
            Some(id) => self.step(id, |machine, out| match machine {
                Machine::InviteClient(m) => m.on_response(now, msg, out),
                Machine::NonInviteClient(m) => m.on_response(now, msg, out),
                Machine::InviteServer(_) | Machine::NonInviteServer(_) => {}
            }),
            None => self
                .out
                .push_back(Output::Event(TxEvent::StrayResponse { msg })),
        }
        Ok(())
    }

    /// Tells transaction `tx` that the transport failed to send for it (RFC 3261 §17.1.4,
    /// §17.2.4).
    pub fn handle_transport_error(&mut self, tx: TxId) -> Result<(), TransactionError> {
        if self.txs.get(tx).is_none() {
            return Err(TransactionError::UnknownTransaction(tx));
        }
        self.step(tx, Machine::on_transport_error);
        Ok(())
    }

    /// Fires every transaction timer due at `now` (RFC 3261 §17).
    pub fn handle_timer(&mut self, now: Instant) {
        while let Some(&Reverse((at, id, generation))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(entry) = self.txs.get_mut(id) else {
                continue;
            };
            if entry.generation != generation {
                continue;
            }
            entry.armed = None;
            self.step(id, |machine, out| machine.on_timer(now, out));
        }
    }

    /// The next output to act on, in order; `None` when drained (RFC 3261 §17).
    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.out.pop_front();
        if out.is_none() {
            // Every event naming an ended transaction has been taken: its slot may serve again.
            self.txs.recycle();
        }
        out
    }

    /// When [`TransactionLayer::handle_timer`] must next be called (RFC 3261 §17).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id, generation))) = self.heap.peek() {
            if self.txs.get(id).is_some_and(|e| e.generation == generation) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// The INVITE server transaction a CANCEL cancels: same key but for the method
    /// (RFC 3261 §9.2), so the TU can answer 200 to the CANCEL and 487 to the INVITE.
    pub fn find_invite_for_cancel(&self, cancel: &Message) -> Option<TxId> {
        if cancel.method() != Some(&Method::Cancel) {
            return None;
        }
        let key = ServerKey::from_request(cancel)
            .ok()?
            .with_method(Method::Invite);
        let id = self.keys.get(&TxKey::Server(key), &self.txs)?;
        match self.txs.get(id).map(|e| &e.machine) {
            Some(Machine::InviteServer(_)) => Some(id),
            Some(
                Machine::NonInviteServer(_)
                | Machine::InviteClient(_)
                | Machine::NonInviteClient(_),
            )
            | None => None,
        }
    }

    /// Finds the server transaction for a request; an ACK under the RFC 2543 fallback matches
    /// the INVITE whose response carried the ACK's To tag (RFC 3261 §17.2.3).
    fn find_server(&self, key: &ServerKey, req: &Message, is_ack: bool) -> Option<TxId> {
        if !(is_ack && key.is_rfc2543()) {
            return self.keys.get(&TxKey::Server(key.clone()), &self.txs);
        }
        let ack_tag = req.to().and_then(|t| t.tag());
        [key.clone(), key.without_to_tag()]
            .into_iter()
            .filter_map(|k| self.keys.get(&TxKey::Server(k), &self.txs))
            .find(|id| {
                self.txs
                    .get(*id)
                    .is_some_and(|e| e.response_to_tag.as_deref() == ack_tag)
            })
    }

    fn insert(&mut self, key: TxKey, peer: Dest, machine: Machine) -> TxId {
        let hash = self.keys.hash(&key);
        let id = self.txs.insert(Box::new(Entry {
            key,
            peer,
            machine,
            armed: None,
            generation: 0,
            response_to_tag: None,
        }));
        self.keys.insert(hash, id, &self.txs);
        id
    }

    /// Runs one step of transaction `id`'s machine and routes what it produced.
    fn step(&mut self, id: TxId, f: impl FnOnce(&mut Machine, &mut Vec<Effect>)) {
        let mut effects = std::mem::take(&mut self.scratch);
        if let Some(entry) = self.txs.get_mut(id) {
            f(&mut entry.machine, &mut effects);
        }
        self.finish(id, effects);
    }

    /// Turns a machine's effects into outputs, drops it if it terminated, and re-arms its timer.
    fn finish(&mut self, id: TxId, mut effects: Vec<Effect>) {
        let mut terminated = false;
        if let Some(entry) = self.txs.get(id) {
            let peer = entry.peer;
            for effect in effects.drain(..) {
                let output = match effect {
                    Effect::Send(bytes) => Output::Transmit(Transmit {
                        dest: peer,
                        bytes,
                        tx: Some(id),
                    }),
                    Effect::Response(msg) => Output::Event(TxEvent::Response { tx: id, msg }),
                    Effect::Ack(msg) => Output::Event(TxEvent::Ack { tx: id, msg }),
                    Effect::Timeout(timer) => Output::Event(TxEvent::Timeout { tx: id, timer }),
                    Effect::NoAck => Output::Event(TxEvent::NoAck { tx: id }),
                    Effect::TransportError => Output::Event(TxEvent::TransportError { tx: id }),
                    Effect::Terminated => {
                        terminated = true;
                        Output::Event(TxEvent::Terminated { tx: id })
                    }
                };
                self.out.push_back(output);
            }
        }
        effects.clear();
        self.scratch = effects;
        if terminated {
            if let Some(entry) = self.txs.remove(id) {
                self.keys.remove(&entry.key, id);
            }
            return;
        }
        if let Some(entry) = self.txs.get_mut(id) {
            let next = entry.machine.next_deadline();
            if next != entry.armed {
                entry.generation += 1;
                entry.armed = next;
                if let Some(at) = next {
                    self.heap.push(Reverse((at, id, entry.generation)));
                }
            }
        }
    }
}
