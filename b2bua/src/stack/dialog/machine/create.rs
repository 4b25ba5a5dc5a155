//! Creating a dialog: from a request we answer (UAS), from a response to a request we sent
//! (UAC), or from another fork's response once the request is no longer kept (RFC 3261 §12.1).

use super::{contact_uri, Dialog};
use crate::stack::dialog::route::RouteSet;
use crate::stack::dialog::{DialogError, DialogId, DialogState, Role};
use crate::stack::transaction::{Dest, Transport};
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Message, Method};

/// What a UAC dialog takes from the request that created it (RFC 3261 §12.1.2).
struct UacSide<'a> {
    /// Our From value, tag included.
    local_party: String,
    /// Our Contact value.
    local_contact: String,
    secure: bool,
    /// The remote target until a Contact arrives: the Request-URI.
    target: Option<&'a str>,
    invite: bool,
}

/// The raw text of the first Contact value in `msg` (RFC 3261 §20.10).
fn contact_value(msg: &Message) -> Option<String> {
    msg.values(&HeaderName::Contact)
        .next()
        .map(|v| v.trim().to_owned())
}

/// Whether a request sent or received over `transport` to `ruri` makes the dialog secure
/// (RFC 3261 §12.1.1, §12.1.2).
fn is_secure(transport: Transport, ruri: Option<&str>) -> bool {
    transport == Transport::Tls && ruri.is_some_and(|u| Uri::parse(u).is_ok_and(|u| u.is_secure()))
}

impl Dialog {
    /// A dialog for a request we received and answer with `status` (101–199 early, 2xx
    /// confirmed): route set = Record-Route in order, remote target = Contact, remote CSeq =
    /// the request's; our CSeq counter starts at `local_cseq` (the first request uses one more)
    /// (RFC 3261 §12.1.1).
    pub fn uas_from_request(
        req: &Message,
        local_tag: &str,
        local_contact: &str,
        local_cseq: u32,
        peer: Dest,
        status: u16,
    ) -> Result<Self, DialogError> {
        let state = match status {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            _ => return Err(DialogError::NotDialogCreating("status not 101-299")),
        };
        let method = req
            .method()
            .ok_or(DialogError::Malformed("not a request"))?;
        if !method.creates_dialog() {
            return Err(DialogError::NotDialogCreating("method"));
        }
        if local_tag.is_empty() {
            return Err(DialogError::Malformed("empty local tag"));
        }
        let to = req.to().ok_or(DialogError::Malformed("To"))?;
        if to.tag().is_some() {
            return Err(DialogError::NotDialogCreating(
                "request already has a To tag",
            ));
        }
        let from = req.from().ok_or(DialogError::Malformed("From"))?;
        let call_id = req.call_id().ok_or(DialogError::Malformed("Call-ID"))?;
        let cseq = req.cseq().ok_or(DialogError::Malformed("CSeq"))?;
        // An RFC 2543 UAC may send no Contact: its From URI is then where it is reached
        // (RFC 3261 §8.2 backward compatibility).
        let remote_target = contact_uri(req)
            .or_else(|| (req.contacts().next().is_none()).then(|| from.uri.to_owned()))
            .ok_or(DialogError::Malformed("Contact"))?;
        let to_value = req.header(&HeaderName::To).unwrap_or_default().trim();
        let from_value = req.header(&HeaderName::From).unwrap_or_default().trim();
        Ok(Self {
            id: DialogId {
                call_id: call_id.into(),
                local_tag: local_tag.into(),
                // RFC 2543 peers may omit the From tag: the remote tag is then null (§12.1.1).
                remote_tag: from.tag().unwrap_or_default().into(),
            },
            role: Role::Uas,
            state,
            ended: None,
            local_party: [to_value, ";tag=", local_tag].concat(),
            remote_party: from_value.to_owned(),
            local_cseq,
            remote_cseq: Some(cseq.seq),
            remote_target,
            route_set: RouteSet::for_uas(req),
            secure: is_secure(peer.transport, req.uri()),
            local_contact: local_contact.to_owned(),
            peer,
            initial_cseq: cseq.seq,
            refresh_cseq: None,
            invite_out: None,
            invite_in: (*method == Method::Invite).then_some(cseq.seq),
            retransmit: None,
            acked_cseq: None,
            ack: None,
            unacked: None,
        })
    }

    /// A dialog for a request we sent, from a 101–199 response with a To tag (early) or a 2xx
    /// (confirmed): route set = Record-Route reversed, remote target = Contact, local CSeq = the
    /// request's, local contact = the request's Contact (RFC 3261 §12.1.2).
    pub fn uac_from_response(
        request: &Message,
        response: &Message,
        peer: Dest,
    ) -> Result<Self, DialogError> {
        let method = request
            .method()
            .ok_or(DialogError::Malformed("not a request"))?;
        if !method.creates_dialog() {
            return Err(DialogError::NotDialogCreating("method"));
        }
        let req_cseq = request.cseq().ok_or(DialogError::Malformed("CSeq"))?.seq;
        if response.cseq().map(|c| c.seq) != Some(req_cseq) {
            return Err(DialogError::Malformed("response CSeq differs from request"));
        }
        if request.call_id() != response.call_id() {
            return Err(DialogError::Malformed(
                "response Call-ID differs from request",
            ));
        }
        let local_contact = contact_value(request).ok_or(DialogError::Malformed("Contact"))?;
        let from_value = request.header(&HeaderName::From).unwrap_or_default().trim();
        Self::uac(
            response,
            peer,
            UacSide {
                local_party: from_value.to_owned(),
                local_contact,
                secure: is_secure(peer.transport, request.uri()),
                target: request.uri(),
                invite: *method == Method::Invite,
            },
        )
    }

    /// A dialog for another fork's 101–299 to the INVITE that created `sibling`, our dialog
    /// with the fork that answered first, once that INVITE is no longer kept: the response
    /// echoes the request's From, Call-ID and CSeq; our Contact and the security of the
    /// request are the sibling's (RFC 3261 §12.1.2, §13.2.2.4).
    pub fn uac_from_sibling(
        sibling: &Dialog,
        response: &Message,
        peer: Dest,
    ) -> Result<Self, DialogError> {
        if sibling.role != Role::Uac || response.call_id() != Some(sibling.id.call_id.as_str()) {
            return Err(DialogError::Malformed(
                "response Call-ID differs from request",
            ));
        }
        let from_value = response
            .header(&HeaderName::From)
            .unwrap_or_default()
            .trim();
        Self::uac(
            response,
            peer,
            UacSide {
                local_party: from_value.to_owned(),
                local_contact: sibling.local_contact.clone(),
                secure: sibling.secure,
                target: Some(&sibling.remote_target),
                invite: true,
            },
        )
    }

    fn uac(response: &Message, peer: Dest, ours: UacSide<'_>) -> Result<Self, DialogError> {
        let status = response
            .status()
            .ok_or(DialogError::Malformed("not a response"))?;
        let state = match status {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            _ => return Err(DialogError::NotDialogCreating("status not 101-299")),
        };
        let id =
            DialogId::for_response(response).ok_or(DialogError::NotDialogCreating("no To tag"))?;
        let cseq = response.cseq().ok_or(DialogError::Malformed("CSeq"))?.seq;
        // A provisional may lack Contact; the Request-URI stands in until one arrives.
        let remote_target = contact_uri(response)
            .or_else(|| ours.target.map(str::to_owned))
            .ok_or(DialogError::Malformed("Contact"))?;
        let to_value = response.header(&HeaderName::To).unwrap_or_default().trim();
        Ok(Self {
            id,
            role: Role::Uac,
            state,
            ended: None,
            local_party: ours.local_party,
            remote_party: to_value.to_owned(),
            local_cseq: cseq,
            remote_cseq: None,
            remote_target,
            route_set: RouteSet::for_uac(response),
            secure: ours.secure,
            local_contact: ours.local_contact,
            peer,
            initial_cseq: cseq,
            refresh_cseq: Some(cseq),
            invite_out: (ours.invite && state == DialogState::Early).then_some(cseq),
            invite_in: None,
            retransmit: None,
            acked_cseq: None,
            ack: None,
            unacked: None,
        })
    }
}
