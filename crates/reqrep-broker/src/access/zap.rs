//! ZAP (ZeroMQ RFC 27) over frames, and the broker's answer to each request.
//!
//! libzmq asks the ZAP handler bound at [`ZAP_ENDPOINT`] in the socket's
//! context about every CURVE handshake, and holds the handshake until the
//! answer comes. A request, after the envelope a ROUTER handler sees (the
//! requester's routing id and an empty delimiter), is:
//!
//! ```text
//! "1.0" | request id | domain | address | routing id | mechanism | credentials...
//! ```
//!
//! and the reply, after the same envelope:
//!
//! ```text
//! "1.0" | request id | status code | status text | user id | metadata
//! ```
//!
//! The broker's answer ([`answer`]): `200` with the key's Z85 text as user
//! id when the mechanism is CURVE and the key is in the policy; `400`
//! otherwise (another mechanism, an unknown key, no policy); `500` to a
//! request it cannot read but can still answer. Pure functions over
//! frames: nothing here panics on any input.

use reqrep_core::curve::CurveKey;

use super::policy::AccessPolicy;
use super::{AuthFailure, Side};

/// Where libzmq looks for the ZAP handler (in the socket's own context).
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
/// The only ZAP version.
pub const VERSION: &[u8] = b"1.0";

/// A ZAP request, borrowed from its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapRequest<'a> {
    /// Echoed in the reply.
    pub request_id: &'a [u8],
    /// The ZAP domain of the socket being connected to (the broker sets
    /// `frontend` and `backend`).
    pub domain: &'a [u8],
    /// The peer's address (an IP address for TCP).
    pub address: &'a [u8],
    /// The routing id the peer announced (often empty).
    pub routing_id: &'a [u8],
    /// `NULL`, `PLAIN` or `CURVE`.
    pub mechanism: &'a [u8],
    /// The mechanism's credentials (for CURVE: the 32-byte client key).
    pub credentials: Vec<&'a [u8]>,
}

/// Why frames are not a ZAP request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZapError {
    /// No empty delimiter ends the envelope: not even an answer is possible.
    #[error("no envelope delimiter")]
    NoEnvelope,
    /// Fewer than the six fields every request has.
    #[error("a ZAP request has at least 6 frames, got {0}")]
    Short(usize),
    /// A version other than `1.0`.
    #[error("unsupported ZAP version {0:?}")]
    Version(String),
}

/// The frames a ROUTER handler received, split into the envelope to send
/// the reply back on (everything up to and including the first empty
/// frame) and the request body.
///
/// # Errors
/// [`ZapError::NoEnvelope`] when there is no empty frame.
pub fn split_envelope<T: AsRef<[u8]>>(frames: &[T]) -> Result<(&[T], &[T]), ZapError> {
    let end = frames
        .iter()
        .position(|f| f.as_ref().is_empty())
        .ok_or(ZapError::NoEnvelope)?;
    Ok(frames.split_at(end + 1))
}

impl<'a> ZapRequest<'a> {
    /// Parses a request body (the frames after the envelope).
    ///
    /// # Errors
    /// [`ZapError`] for too few frames or another version.
    pub fn parse<T: AsRef<[u8]>>(body: &'a [T]) -> Result<Self, ZapError> {
        let frame = |i: usize| body.get(i).map_or(&[][..], AsRef::as_ref);
        if body.len() < 6 {
            return Err(ZapError::Short(body.len()));
        }
        if frame(0) != VERSION {
            return Err(ZapError::Version(
                String::from_utf8_lossy(frame(0)).into_owned(),
            ));
        }
        Ok(Self {
            request_id: frame(1),
            domain: frame(2),
            address: frame(3),
            routing_id: frame(4),
            mechanism: frame(5),
            credentials: body[6..].iter().map(AsRef::as_ref).collect(),
        })
    }

    /// The side the domain names; `None` for a domain the broker never sets.
    pub fn side(&self) -> Option<Side> {
        Side::from_domain(self.domain)
    }

    /// The CURVE client key, when the mechanism is CURVE and it has one.
    pub fn curve_key(&self) -> Option<CurveKey> {
        if self.mechanism != b"CURVE" {
            return None;
        }
        match self.credentials.as_slice() {
            [key] => {
                let bytes: [u8; 32] = (*key).try_into().ok()?;
                // CurveKey is built from text only.
                zmq::z85_encode(&bytes).ok()?.parse().ok()
            }
            _ => None,
        }
    }
}

/// A ZAP reply's body (without the envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapReply {
    /// The request's id, echoed.
    pub request_id: Vec<u8>,
    /// `200` (allowed), `400` (refused) or `500` (handler error).
    pub status: u16,
    /// A human-readable reason.
    pub text: String,
    /// The user id libzmq attaches to every message of the connection
    /// (`User-Id`): the key's Z85 text when allowed, empty otherwise.
    pub user_id: String,
}

impl ZapReply {
    /// The reply's six frames, metadata empty.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        vec![
            VERSION.to_vec(),
            self.request_id.clone(),
            self.status.to_string().into_bytes(),
            self.text.clone().into_bytes(),
            self.user_id.clone().into_bytes(),
            Vec::new(),
        ]
    }

    fn refuse(request_id: &[u8], status: u16, text: impl Into<String>) -> Self {
        Self {
            request_id: request_id.to_vec(),
            status,
            text: text.into(),
            user_id: String::new(),
        }
    }
}

/// The outcome of one ZAP request: the reply to send (when one can be
/// sent), and when refused why and on which side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapOutcome {
    /// The reply body; `None` when the request could not be read far enough
    /// to answer it (only ever a broken libzmq).
    pub reply: Option<ZapReply>,
    /// Why the peer was refused; `None` when it was let in.
    pub failure: Option<AuthFailure>,
    /// The side (from the domain), when known.
    pub side: Option<Side>,
    /// The refused key, when it was a CURVE key (for the log).
    pub key: Option<CurveKey>,
}

/// Answers a ZAP request body (the frames after the envelope) from
/// `policy`; with no policy every peer is refused.
pub fn answer<T: AsRef<[u8]>>(policy: Option<&AccessPolicy>, body: &[T]) -> ZapOutcome {
    let request = match ZapRequest::parse(body) {
        Ok(request) => request,
        Err(_) => {
            // Answerable when the version and request id can be read.
            let reply = (body.len() >= 2 && body[0].as_ref() == VERSION)
                .then(|| ZapReply::refuse(body[1].as_ref(), 500, "malformed ZAP request"));
            return ZapOutcome {
                reply,
                failure: Some(AuthFailure::Malformed),
                side: None,
                key: None,
            };
        }
    };
    let side = request.side();
    let refused = |status, text: &str, failure, key| ZapOutcome {
        reply: Some(ZapReply::refuse(request.request_id, status, text)),
        failure: Some(failure),
        side,
        key,
    };
    if request.mechanism != b"CURVE" {
        return refused(400, "only CURVE is accepted", AuthFailure::Mechanism, None);
    }
    let Some(key) = request.curve_key() else {
        return refused(400, "no CURVE key", AuthFailure::Malformed, None);
    };
    let user_id = key.to_z85();
    match policy.and_then(|p| p.identity(&user_id)) {
        Some(_) => ZapOutcome {
            reply: Some(ZapReply {
                request_id: request.request_id.to_vec(),
                status: 200,
                text: "OK".into(),
                user_id,
            }),
            failure: None,
            side,
            key: Some(key),
        },
        None => refused(
            400,
            "key not in the access policy",
            AuthFailure::UnknownKey,
            Some(key),
        ),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::access::policy::{Identity, tests::key};

    fn policy() -> AccessPolicy {
        AccessPolicy::new(vec![Identity {
            name: "web".into(),
            key: key(1),
            call: vec!["orders".parse().unwrap()],
            serve: vec![],
        }])
        .unwrap()
    }

    fn request(domain: &str, mechanism: &str, credentials: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut frames: Vec<Vec<u8>> = vec![
            b"peer".to_vec(),
            Vec::new(),
            b"1.0".to_vec(),
            b"42".to_vec(),
            domain.into(),
            b"127.0.0.1".to_vec(),
            Vec::new(),
            mechanism.into(),
        ];
        frames.extend(credentials.iter().map(|c| c.to_vec()));
        frames
    }

    fn raw(key: CurveKey) -> Vec<u8> {
        zmq::z85_decode(&key.to_z85()).unwrap()
    }

    fn outcome(frames: &[Vec<u8>]) -> ZapOutcome {
        let (envelope, body) = split_envelope(frames).unwrap();
        assert_eq!(envelope.len(), 2);
        answer(Some(&policy()), body)
    }

    #[test]
    fn a_known_curve_key_gets_200_with_its_z85_text_as_user_id() {
        let frames = request("frontend", "CURVE", &[&raw(key(1))]);
        let out = outcome(&frames);
        let reply = out.reply.unwrap();
        assert_eq!((reply.status, out.failure), (200, None));
        assert_eq!(reply.user_id, key(1).to_z85());
        assert_eq!(out.side, Some(Side::Frontend));
        assert_eq!(
            reply.frames(),
            vec![
                b"1.0".to_vec(),
                b"42".to_vec(),
                b"200".to_vec(),
                b"OK".to_vec(),
                key(1).to_z85().into_bytes(),
                Vec::new()
            ]
        );
    }

    #[test]
    fn unknown_keys_other_mechanisms_and_no_policy_get_400() {
        let out = outcome(&request("backend", "CURVE", &[&raw(key(2))]));
        assert_eq!(out.reply.as_ref().unwrap().status, 400);
        assert_eq!(out.reply.unwrap().user_id, "");
        assert_eq!(out.failure, Some(AuthFailure::UnknownKey));
        assert_eq!(out.side, Some(Side::Backend));
        assert_eq!(out.key, Some(key(2)));
        for mechanism in ["NULL", "PLAIN"] {
            let out = outcome(&request("frontend", mechanism, &[b"user", b"pass"]));
            assert_eq!(out.reply.unwrap().status, 400, "{mechanism}");
            assert_eq!(out.failure, Some(AuthFailure::Mechanism));
        }
        let frames = request("frontend", "CURVE", &[&raw(key(1))]);
        let (_, body) = split_envelope(&frames).unwrap();
        let out = answer(None, body);
        assert_eq!(out.reply.unwrap().status, 400);
        let out = outcome(&request("frontend", "CURVE", &[b"short"]));
        assert_eq!(out.failure, Some(AuthFailure::Malformed));
    }

    #[test]
    fn unreadable_requests_get_500_when_answerable_and_nothing_otherwise() {
        let short: Vec<Vec<u8>> = vec![b"1.0".to_vec(), b"7".to_vec()];
        let out = answer(Some(&policy()), &short);
        let reply = out.reply.unwrap();
        assert_eq!((reply.status, reply.request_id), (500, b"7".to_vec()));
        let wrong: Vec<Vec<u8>> = vec![b"2.0".to_vec(), b"7".to_vec()];
        assert_eq!(answer(Some(&policy()), &wrong).reply, None);
        assert_eq!(
            ZapRequest::parse(&wrong),
            Err(ZapError::Short(2)),
            "short before version"
        );
        let no_delimiter: Vec<Vec<u8>> = vec![b"peer".to_vec()];
        assert_eq!(
            split_envelope(&no_delimiter).unwrap_err(),
            ZapError::NoEnvelope
        );
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic_the_decoder(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 0..12),
            versioned in any::<bool>(),
        ) {
            let mut frames = frames;
            if versioned && !frames.is_empty() {
                frames[0] = b"1.0".to_vec();
            }
            let policy = policy();
            let _ = split_envelope(&frames);
            let _ = ZapRequest::parse(&frames).map(|r| (r.side(), r.curve_key()));
            let out = answer(Some(&policy), &frames);
            if let Some(reply) = out.reply {
                prop_assert_eq!(reply.frames().len(), 6);
                prop_assert!(reply.status == 200 || out.failure.is_some());
            }
        }
    }
}
