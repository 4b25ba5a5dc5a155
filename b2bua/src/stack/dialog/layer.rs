//! The dialog table: matching requests and responses to dialogs (RFC 3261 §12.2.2, §12.1.2),
//! forked early dialogs side by side (§13.2.2.4), and one timer heap for 2xx retransmission
//! (§13.3.1.4).
//!
//! Timers use a min-heap of `(deadline, DialogId, generation)` with lazy deletion, like the
//! transaction layer: re-arming bumps the dialog's generation, stale heap entries are skipped
//! when they surface. Only UAS dialogs waiting for an ACK have a deadline, so the heap stays
//! small; the cost is one `DialogId` clone per re-arm (about seven per answered call).

use super::machine::{Dialog, RequestVerdict};
use super::{
    DialogError, DialogEvent, DialogId, DialogKey, DialogOutput, DialogState, TerminateReason,
};
use crate::stack::transaction::{Dest, TimerConfig};
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

/// What [`DialogLayer::handle_creating_response`] did with a response to a dialog-creating
/// request (RFC 3261 §12.1.2, §13.2.2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// The response belongs to this existing dialog and was fed to it.
    Matched(DialogId),
    /// The response created this dialog: a new early dialog, or a new fork when others share
    /// its Call-ID and local tag (see [`DialogLayer::dialog_set`]).
    Created(DialogId),
    /// The response neither matches nor creates a dialog (100, no To tag, a non-2xx final).
    NoDialog,
}

#[derive(Debug)]
struct Entry {
    dialog: Dialog,
    armed: Option<Instant>,
    generation: u64,
}

/// Every live dialog, keyed by [`DialogId`], with one timer heap (RFC 3261 §12).
///
/// After each `handle_*`, `new_request`, `send_ack` or `terminate*` call, drain
/// [`DialogLayer::poll_output`] until `None`, then sleep until [`DialogLayer::poll_timeout`] and
/// call [`DialogLayer::handle_timer`]. Terminated dialogs are removed after their
/// [`DialogEvent::Terminated`] is queued.
#[derive(Debug)]
pub struct DialogLayer {
    timers: TimerConfig,
    /// Max-Forwards of the requests the dialogs send (RFC 3261 §8.1.1.6).
    max_forwards: u32,
    /// Boxed: an entry is over 1 kB, and the table's spare slots should not be.
    /// A hashbrown map: a message's [`DialogKey`] finds its entry without copying identifiers.
    dialogs: hashbrown::HashMap<DialogId, Box<Entry>, foldhash::quality::RandomState>,
    heap: BinaryHeap<Reverse<(Instant, DialogId, u64)>>,
    out: VecDeque<DialogOutput>,
    scratch: Vec<DialogOutput>,
}

impl Default for DialogLayer {
    fn default() -> Self {
        Self::new(TimerConfig::default())
    }
}

impl DialogLayer {
    /// An empty table using T1/T2 from `timers` for 2xx retransmission (RFC 3261 §13.3.1.4).
    pub fn new(timers: TimerConfig) -> Self {
        Self {
            timers,
            max_forwards: 70,
            dialogs: hashbrown::HashMap::default(),
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// Sets the Max-Forwards of the requests the dialogs send (`[sip] max_forwards`; RFC 3261
    /// §8.1.1.6).
    pub fn set_max_forwards(&mut self, max_forwards: u32) {
        self.max_forwards = max_forwards;
    }

    /// How many dialogs are live (RFC 3261 §12).
    pub fn len(&self) -> usize {
        self.dialogs.len()
    }

    /// Entries in the timer heap, stale ones included (they leave when they come due).
    pub fn timer_entries(&self) -> usize {
        self.heap.len()
    }

    /// Whether no dialog is live (RFC 3261 §12).
    pub fn is_empty(&self) -> bool {
        self.dialogs.is_empty()
    }

    /// The dialog with this id (RFC 3261 §12).
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.dialogs.get(id).map(|e| &e.dialog)
    }

    /// Adds a dialog the caller created, typically with [`Dialog::uas_from_request`]
    /// (RFC 3261 §12.1.1).
    pub fn insert(&mut self, dialog: Dialog) -> Result<DialogId, DialogError> {
        let id = dialog.id().clone();
        if self.dialogs.contains_key(&id) {
            return Err(DialogError::Duplicate(id));
        }
        self.dialogs.insert(
            id.clone(),
            Box::new(Entry {
                dialog,
                armed: None,
                generation: 0,
            }),
        );
        self.rearm(&id);
        Ok(id)
    }

    /// The dialog an incoming request belongs to, by Call-ID, To tag and From tag
    /// (RFC 3261 §12.2.2).
    pub fn find_for_request(&self, req: &Message) -> Option<DialogId> {
        self.known(DialogKey::for_incoming_request(req)?)
    }

    /// The dialog a response to our request belongs to, by Call-ID, From tag and To tag
    /// (RFC 3261 §12.2.1.2).
    pub fn find_for_response(&self, rsp: &Message) -> Option<DialogId> {
        self.known(DialogKey::for_response(rsp)?)
    }

    /// The dialogs sharing a Call-ID and local tag, i.e. the forks of one INVITE, sorted by id
    /// (RFC 3261 §12.1.2, §13.2.2.4).
    pub fn dialog_set(&self, call_id: &str, local_tag: &str) -> Vec<DialogId> {
        let mut ids: Vec<DialogId> = self
            .dialogs
            .keys()
            .filter(|id| id.call_id == call_id && id.local_tag == local_tag)
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Feeds an in-dialog request, ACKs for 2xx included (`TxEvent::Request`, `Ack`,
    /// `StrayAck`), and says how to answer it (RFC 3261 §12.2.2); an unknown dialog is
    /// [`DialogError::UnknownDialog`], to be answered 481 unless it is an ACK.
    pub fn handle_request(
        &mut self,
        req: &Message,
    ) -> Result<(DialogId, RequestVerdict), DialogError> {
        let id = self.lookup(DialogKey::for_incoming_request(req))?;
        let mut verdict = RequestVerdict::Accept;
        self.step(&id, |d, out| verdict = d.on_request(req, out));
        Ok((id, verdict))
    }

    /// Feeds a response to a request sent inside an existing dialog, 2xx retransmissions
    /// included (`TxEvent::Response`, `StrayResponse`; RFC 3261 §12.2.1.2, §13.2.2.4).
    pub fn handle_response(&mut self, rsp: &Message) -> Result<DialogId, DialogError> {
        let id = self.lookup(DialogKey::for_response(rsp))?;
        self.step(&id, |d, out| d.on_response(rsp, out));
        Ok(id)
    }

    /// Feeds a response to our dialog-creating `request` (sent to `peer`): it goes to the
    /// dialog with its To tag if there is one, else a 101–299 with a To tag creates a new early
    /// or confirmed dialog, one per fork (RFC 3261 §12.1.2, §13.2.2.4). A new confirmed INVITE
    /// dialog asks for its ACK with [`DialogEvent::AckNeeded`].
    pub fn handle_creating_response(
        &mut self,
        request: &Message,
        rsp: &Message,
        peer: Dest,
    ) -> Result<ResponseOutcome, DialogError> {
        let invite = request.method() == Some(&Method::Invite);
        self.creating_response(rsp, invite, |_| {
            Dialog::uac_from_response(request, rsp, peer)
        })
    }

    /// As [`DialogLayer::handle_creating_response`], for a response to the INVITE that created
    /// our dialog `sibling` once that INVITE is no longer kept: a new fork's dialog takes our
    /// side from `sibling` (RFC 3261 §12.1.2, §13.2.2.4).
    pub fn handle_sibling_response(
        &mut self,
        sibling: &DialogId,
        rsp: &Message,
        peer: Dest,
    ) -> Result<ResponseOutcome, DialogError> {
        self.creating_response(rsp, true, |layer| {
            let sibling = layer
                .dialogs
                .get(sibling)
                .ok_or_else(|| DialogError::UnknownDialog(sibling.clone()))?;
            Dialog::uac_from_sibling(&sibling.dialog, rsp, peer)
        })
    }

    fn creating_response(
        &mut self,
        rsp: &Message,
        invite: bool,
        create: impl FnOnce(&Self) -> Result<Dialog, DialogError>,
    ) -> Result<ResponseOutcome, DialogError> {
        let Some(key) = DialogKey::for_response(rsp) else {
            return Ok(ResponseOutcome::NoDialog);
        };
        if let Some(id) = self.known(key) {
            self.step(&id, |d, out| d.on_response(rsp, out));
            return Ok(ResponseOutcome::Matched(id));
        }
        if !rsp.status().is_some_and(|s| (101..300).contains(&s)) {
            return Ok(ResponseOutcome::NoDialog);
        }
        let dialog = create(self)?;
        let state = dialog.state();
        let id = self.insert(dialog)?;
        let event = match state {
            DialogState::Early => DialogEvent::Early,
            DialogState::Confirmed | DialogState::Terminated => DialogEvent::Confirmed,
        };
        self.push_event(&id, event);
        if state == DialogState::Confirmed && invite {
            if let Some(cseq) = rsp.cseq().map(|c| c.seq) {
                self.push_event(&id, DialogEvent::AckNeeded { cseq });
            }
        }
        Ok(ResponseOutcome::Created(id))
    }

    /// Tells dialog `id` about a response we sent in it through the transaction layer: a 2xx
    /// to INVITE starts its retransmission until ACK (RFC 3261 §13.3.1.4).
    pub fn handle_response_sent(
        &mut self,
        now: Instant,
        id: &DialogId,
        rsp: &Message,
    ) -> Result<(), DialogError> {
        let id = self.lookup(Some(id.key()))?;
        let timers = self.timers;
        self.step(&id, |d, out| d.on_response_sent(now, rsp, timers, out));
        Ok(())
    }

    /// Builds a request in dialog `id` with `via` on top (RFC 3261 §12.2.1.1); a BYE
    /// terminates and removes the dialog (RFC 3261 §15.1.1).
    pub fn new_request(
        &mut self,
        id: &DialogId,
        method: Method,
        via: Option<&str>,
    ) -> Result<Message, DialogError> {
        let id = self.lookup(Some(id.key()))?;
        let mut result = Err(DialogError::UnknownDialog(id.clone()));
        self.step(&id, |d, _| result = d.new_request(method, via));
        // Each dialog writes 70 (RFC 3261 §8.1.1.6's recommendation); another cap replaces it.
        if self.max_forwards != 70 {
            if let Ok(m) = &mut result {
                m.set_header(HeaderName::MaxForwards, self.max_forwards.to_string());
            }
        }
        result
    }

    /// Builds the ACK for the 2xx to our INVITE `cseq` in dialog `id`, queues it for sending to
    /// the dialog's peer and keeps it for 2xx retransmissions (RFC 3261 §13.2.2.4).
    pub fn send_ack(
        &mut self,
        id: &DialogId,
        cseq: u32,
        via: &str,
        body: Option<(Bytes, &str)>,
    ) -> Result<Message, DialogError> {
        let entry = self
            .dialogs
            .get_mut(id)
            .ok_or_else(|| DialogError::UnknownDialog(id.clone()))?;
        let ack = entry.dialog.ack_for_2xx(cseq, via, body);
        if let Some(bytes) = entry.dialog.ack_for(cseq) {
            self.out.push_back(DialogOutput::Send {
                bytes: bytes.clone(),
                dest: entry.dialog.peer(),
            });
        }
        Ok(ack)
    }

    /// Overrides where dialog `id`'s stateless messages go (RFC 3261 §18, RFC 5626).
    pub fn set_peer(&mut self, id: &DialogId, peer: Dest) -> Result<(), DialogError> {
        let entry = self
            .dialogs
            .get_mut(id)
            .ok_or_else(|| DialogError::UnknownDialog(id.clone()))?;
        entry.dialog.set_peer(peer);
        Ok(())
    }

    /// Ends dialog `id` for `reason` and removes it (RFC 3261 §12.3).
    pub fn terminate(&mut self, id: &DialogId, reason: TerminateReason) -> Result<(), DialogError> {
        let id = self.lookup(Some(id.key()))?;
        self.step(&id, |d, _| d.terminate(reason));
        Ok(())
    }

    /// Ends every early dialog the request `invite` (ours, as sent) created: its Call-ID and
    /// From tag name them (RFC 3261 §12.3, §13.2.2.3).
    pub fn terminate_early_of(&mut self, invite: &Message, reason: TerminateReason) {
        let call_id = invite.call_id().unwrap_or_default();
        let tag = invite.from().and_then(|f| f.tag()).unwrap_or_default();
        self.terminate_early(call_id, tag, reason);
    }

    /// Ends every early dialog of the INVITE with this Call-ID and local tag, e.g. on its
    /// non-2xx final or once another fork is chosen (RFC 3261 §12.3, §13.2.2.3).
    pub fn terminate_early(&mut self, call_id: &str, local_tag: &str, reason: TerminateReason) {
        for id in self.dialog_set(call_id, local_tag) {
            if self
                .get(&id)
                .is_some_and(|d| d.state() == DialogState::Early)
            {
                self.step(&id, |d, _| d.terminate(reason));
            }
        }
    }

    /// Fires every dialog timer due at `now`: 2xx retransmissions and NoAck (RFC 3261
    /// §13.3.1.4).
    pub fn handle_timer(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, id, generation))) = self.heap.pop() else {
                break;
            };
            let Some(entry) = self.dialogs.get_mut(&id) else {
                continue;
            };
            if entry.generation != generation {
                continue;
            }
            entry.armed = None;
            self.step(&id, |d, out| d.on_timer(now, out));
        }
    }

    /// When [`DialogLayer::handle_timer`] must next be called (RFC 3261 §13.3.1.4).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id, generation))) = self.heap.peek() {
            if self
                .dialogs
                .get(id)
                .is_some_and(|e| e.generation == *generation)
            {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// The next output to act on, in order; `None` when drained (RFC 3261 §12).
    pub fn poll_output(&mut self) -> Option<DialogOutput> {
        self.out.pop_front()
    }

    fn lookup(&self, key: Option<DialogKey<'_>>) -> Result<DialogId, DialogError> {
        let key = key.ok_or(DialogError::Malformed("no dialog id (To tag)"))?;
        self.known(key)
            .ok_or_else(|| DialogError::UnknownDialog(key.to_id()))
    }

    /// The id of the live dialog `key` names: the table's own, shared rather than copied.
    fn known(&self, key: DialogKey<'_>) -> Option<DialogId> {
        self.dialogs.get_key_value(&key).map(|(id, _)| id.clone())
    }

    fn push_event(&mut self, id: &DialogId, event: DialogEvent) {
        self.out.push_back(DialogOutput::Event {
            id: id.clone(),
            event,
        });
    }

    /// Runs `f` on dialog `id`, queues its outputs, removes it if it terminated, and re-arms its
    /// timer otherwise.
    fn step(&mut self, id: &DialogId, f: impl FnOnce(&mut Dialog, &mut Vec<DialogOutput>)) {
        let mut outputs = std::mem::take(&mut self.scratch);
        let ended = match self.dialogs.get_mut(id) {
            Some(entry) => {
                f(&mut entry.dialog, &mut outputs);
                entry.dialog.terminate_reason()
            }
            None => None,
        };
        self.out.extend(outputs.drain(..));
        self.scratch = outputs;
        match ended {
            Some(reason) => {
                self.dialogs.remove(id);
                self.push_event(id, DialogEvent::Terminated(reason));
            }
            None => self.rearm(id),
        }
    }

    fn rearm(&mut self, id: &DialogId) {
        if let Some(entry) = self.dialogs.get_mut(id) {
            let next = entry.dialog.next_deadline();
            if next != entry.armed {
                entry.generation += 1;
                entry.armed = next;
                if let Some(at) = next {
                    self.heap.push(Reverse((at, id.clone(), entry.generation)));
                }
            }
        }
    }
}
