//! Transaction keys: how responses find their client transaction (RFC 3261 §17.1.3) and requests
//! their server transaction (RFC 3261 §17.2.3, with the RFC 2543 fallback).

use super::TransactionError;
use crate::stack::ids::{Branch, CallId, Tag};
use sbc_common::sip::{HeaderName, Message, Method};

/// The key of any transaction in the layer's map (RFC 3261 §17.1.3, §17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxKey {
    /// A client transaction (RFC 3261 §17.1.3).
    Client(ClientKey),
    /// A server transaction (RFC 3261 §17.2.3).
    Server(ServerKey),
}

/// A client transaction key: the branch of the top Via and the CSeq method (RFC 3261 §17.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The branch parameter of the top Via, as sent.
    pub branch: Branch,
    /// The method of the request that created the transaction (CANCEL is its own; RFC 3261 §9.1).
    pub method: Method,
}

impl ClientKey {
    /// The key of a request the TU is sending; it must carry an RFC 3261 branch and not be an ACK
    /// (RFC 3261 §8.1.1.7, §17.1.3).
    pub fn from_request(req: &Message) -> Result<Self, TransactionError> {
        let method = req
            .method()
            .ok_or(TransactionError::Malformed("not a request"))?;
        if *method == Method::Ack {
            return Err(TransactionError::AckWithoutTransaction);
        }
        let via = req.via().ok_or(TransactionError::Malformed("top Via"))?;
        if !via.is_rfc3261() {
            return Err(TransactionError::Malformed("RFC 3261 branch in top Via"));
        }
        let branch = via.branch().ok_or(TransactionError::Malformed("branch"))?;
        let cseq = req.cseq().ok_or(TransactionError::Malformed("CSeq"))?;
        if cseq.method() != Some(method.clone()) {
            return Err(TransactionError::Malformed(
                "CSeq method equal to the method",
            ));
        }
        Ok(Self {
            branch: branch.into(),
            method: method.clone(),
        })
    }

    /// The key a response matches: its top Via branch and its CSeq method (RFC 3261 §17.1.3).
    pub fn from_response(rsp: &Message) -> Result<Self, TransactionError> {
        let via = rsp.via().ok_or(TransactionError::Malformed("top Via"))?;
        let branch = via.branch().ok_or(TransactionError::Malformed("branch"))?;
        let method = rsp
            .cseq()
            .and_then(|c| c.method())
            .ok_or(TransactionError::Malformed("CSeq"))?;
        Ok(Self {
            branch: branch.into(),
            method,
        })
    }
}

/// A server transaction key, by RFC 3261 branch or by the RFC 2543 fallback (RFC 3261 §17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// The top Via branch starts with the magic cookie `z9hG4bK` (RFC 3261 §17.2.3).
    Rfc3261(Rfc3261Key),
    /// The branch is missing or lacks the cookie: match on the dialog fields (RFC 3261 §17.2.3).
    /// Boxed: rare, and three times the size of the usual key.
    Rfc2543(Box<Rfc2543Key>),
}

/// Branch, sent-by and method, where ACK counts as INVITE (RFC 3261 §17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rfc3261Key {
    /// The top Via branch.
    pub branch: Branch,
    /// The top Via sent-by host, lower-cased.
    pub host: String,
    /// The top Via sent-by port, if written.
    pub port: Option<u16>,
    /// The method of the request that creates the transaction (INVITE for an ACK).
    pub method: Method,
}

/// The RFC 2543 fallback: Request-URI, tags, Call-ID, CSeq and top Via (RFC 3261 §17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rfc2543Key {
    /// The Request-URI as written.
    pub request_uri: String,
    /// The From tag.
    pub from_tag: Option<Tag>,
    /// The To tag of the request (an ACK is looked up with its tag and with none; see the layer).
    pub to_tag: Option<Tag>,
    /// The Call-ID.
    pub call_id: CallId,
    /// The CSeq number.
    pub cseq: u32,
    /// The method of the request that creates the transaction (INVITE for an ACK).
    pub method: Method,
    /// The top Via value, trimmed.
    pub top_via: String,
}

impl ServerKey {
    /// The key a received request matches, an ACK keyed as its INVITE (RFC 3261 §17.2.3).
    pub fn from_request(req: &Message) -> Result<Self, TransactionError> {
        let method = req
            .method()
            .ok_or(TransactionError::Malformed("not a request"))?;
        let cseq = req.cseq().ok_or(TransactionError::Malformed("CSeq"))?;
        if cseq.method() != Some(method.clone()) {
            return Err(TransactionError::Malformed(
                "CSeq method equal to the method",
            ));
        }
        let via = req.via().ok_or(TransactionError::Malformed("top Via"))?;
        let method = if *method == Method::Ack {
            Method::Invite
        } else {
            method.clone()
        };
        if let (true, Some(branch)) = (via.is_rfc3261(), via.branch()) {
            return Ok(Self::Rfc3261(Rfc3261Key {
                branch: branch.into(),
                host: via.host.to_ascii_lowercase(),
                port: via.port,
                method,
            }));
        }
        let top_via = req
            .values(&HeaderName::Via)
            .next()
            .ok_or(TransactionError::Malformed("top Via"))?;
        Ok(Self::Rfc2543(Box::new(Rfc2543Key {
            request_uri: req.uri().unwrap_or_default().to_owned(),
            from_tag: req.from().and_then(|f| f.tag()).map(Tag::from),
            to_tag: req.to().and_then(|t| t.tag()).map(Tag::from),
            call_id: req
                .call_id()
                .ok_or(TransactionError::Malformed("Call-ID"))?
                .into(),
            cseq: cseq.seq,
            method,
            top_via: top_via.trim().to_owned(),
        })))
    }

    /// The same key for another method: a CANCEL's key with INVITE finds the INVITE it cancels
    /// (RFC 3261 §9.2).
    pub fn with_method(&self, method: Method) -> Self {
        match self {
            Self::Rfc3261(k) => Self::Rfc3261(Rfc3261Key {
                method,
                ..k.clone()
            }),
            Self::Rfc2543(k) => Self::Rfc2543(Box::new(Rfc2543Key {
                method,
                ..(**k).clone()
            })),
        }
    }

    /// The same key with the RFC 2543 To tag removed; an RFC 3261 key is returned unchanged
    /// (RFC 3261 §17.2.3: an ACK's To tag is that of the response, not of the INVITE).
    pub fn without_to_tag(&self) -> Self {
        match self {
            Self::Rfc3261(k) => Self::Rfc3261(k.clone()),
            Self::Rfc2543(k) => Self::Rfc2543(Box::new(Rfc2543Key {
                to_tag: None,
                ..(**k).clone()
            })),
        }
    }

    /// Whether this is the RFC 2543 fallback key (RFC 3261 §17.2.3).
    pub fn is_rfc2543(&self) -> bool {
        match self {
            Self::Rfc3261(_) => false,
            Self::Rfc2543(_) => true,
        }
    }
}
