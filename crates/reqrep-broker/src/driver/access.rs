//! The driver's side of access control: the ZAP handler socket, the
//! socket monitors that see failed handshakes, and the access file with
//! its reloads. Decisions are made by the pure [`crate::access`] code;
//! this file only moves frames and reads the file and the clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqrep_core::curve::CurveKey;
use tracing::{debug, info, warn};

use crate::access::zap::{self, ZAP_ENDPOINT};
use crate::access::{
    AccessFileError, AccessPolicy, AuthCounts, AuthFailure, Denials, Side, monitor,
};
use crate::signal::ReloadToken;
use crate::state::BrokerState;

/// The least time between two looks at the access file's modification time.
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// ZAP requests answered per loop turn before the other sockets get a turn.
const ZAP_BATCH: usize = 256;

/// The access file's identity on disk: when a reload is due.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Loads the access file, logging what it holds.
pub(super) fn load_policy(path: &Path) -> Result<AccessPolicy, AccessFileError> {
    let policy = AccessPolicy::load(path)?;
    if policy.is_empty() {
        warn!(file = %path.display(), "the access policy has no identity: every peer is refused");
    }
    Ok(policy)
}

/// The ZAP handler, the policy it answers from, and the file it came from.
pub(super) struct Access {
    path: PathBuf,
    policy: Arc<AccessPolicy>,
    /// Bound at [`ZAP_ENDPOINT`] before the frontend and backend.
    zap: zmq::Socket,
    reload: ReloadToken,
    /// The reload generation last acted on.
    reloaded: u64,
    stamp: Stamp,
    checked: Instant,
}

impl Access {
    /// Binds the ZAP handler in `ctx` (before any CURVE socket of `ctx` is
    /// bound, so no handshake can happen without it).
    pub(super) fn bind(
        ctx: &zmq::Context,
        path: PathBuf,
        policy: AccessPolicy,
        now: Instant,
    ) -> Result<Self, zmq::Error> {
        let zap = ctx.socket(zmq::ROUTER)?;
        zap.set_linger(0)?;
        zap.bind(ZAP_ENDPOINT)?;
        info!(
            file = %path.display(),
            identities = policy.len(),
            "access policy loaded"
        );
        Ok(Self {
            stamp: stamp(&path),
            path,
            policy: Arc::new(policy),
            zap,
            reload: ReloadToken::new(),
            reloaded: 0,
            checked: now,
        })
    }

    /// The policy in force.
    pub(super) fn policy(&self) -> &Arc<AccessPolicy> {
        &self.policy
    }

    /// Reloads when `reload` is requested from now on.
    pub(super) fn reload_on(&mut self, reload: ReloadToken) {
        self.reloaded = reload.generation();
        self.reload = reload;
    }

    /// The ZAP socket, for the poll.
    pub(super) fn zap(&self) -> &zmq::Socket {
        &self.zap
    }

    /// Answers the ZAP requests waiting, counting and (rate-limited)
    /// logging refusals.
    pub(super) fn serve_zap(
        &self,
        now: Instant,
        counts: &mut AuthCounts,
        log: &mut Denials<(Side, AuthFailure, Option<String>)>,
    ) {
        for _ in 0..ZAP_BATCH {
            let frames = match self.zap.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN) => return,
                Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    warn!(cause = %e, "ZAP receive failed");
                    return;
                }
            };
            let Ok((envelope, body)) = zap::split_envelope(&frames) else {
                warn!("ZAP request without an envelope dropped");
                continue;
            };
            let outcome = zap::answer(Some(&self.policy), body);
            if let (Some(failure), Some(side)) = (outcome.failure, outcome.side) {
                counts.add(side, failure);
                let key = outcome.key.as_ref().map(CurveKey::to_z85);
                if let Some(suppressed) = log.note(now, (side, failure, key.clone())) {
                    warn!(
                        side = side.label(),
                        reason = failure.label(),
                        key = key.as_deref().unwrap_or(""),
                        suppressed,
                        "handshake refused"
                    );
                }
            }
            let Some(reply) = outcome.reply else {
                warn!("unreadable ZAP request dropped");
                continue;
            };
            let mut out: Vec<Vec<u8>> = envelope.to_vec();
            out.extend(reply.frames());
            if let Err(e) = self.zap.send_multipart(out, zmq::DONTWAIT) {
                warn!(cause = %e, "ZAP reply failed");
            }
        }
    }

    /// Re-reads the access file when a reload was requested, or (at most
    /// once a second) when the file changed on disk. A valid file replaces
    /// the policy whole, in `state` too; an invalid one is logged once and
    /// the policy in force stays. Whether the policy changed.
    pub(super) fn maybe_reload(&mut self, now: Instant, state: &mut BrokerState) -> bool {
        let generation = self.reload.generation();
        let why = if generation != self.reloaded {
            self.reloaded = generation;
            "reload requested"
        } else if now.saturating_duration_since(self.checked) >= FILE_CHECK_INTERVAL {
            self.checked = now;
            let current = stamp(&self.path);
            if current == self.stamp {
                return false;
            }
            "file changed"
        } else {
            return false;
        };
        self.stamp = stamp(&self.path);
        self.checked = now;
        match load_policy(&self.path) {
            Ok(policy) => {
                info!(
                    file = %self.path.display(),
                    identities = policy.len(),
                    why,
                    "access policy reloaded"
                );
                self.policy = Arc::new(policy);
                state.set_policy(now, Some(Arc::clone(&self.policy)));
                true
            }
            Err(e) => {
                warn!(
                    cause = %e,
                    why,
                    "access policy reload rejected; the policy in force stays"
                );
                false
            }
        }
    }
}

/// Socket monitors on the frontend and backend, for the handshakes that
/// fail before ZAP is asked.
pub(super) struct Monitors {
    sockets: Vec<(Side, zmq::Socket)>,
}

impl Monitors {
    /// Monitors `frontend` and `backend` (both in `ctx`).
    pub(super) fn start(
        ctx: &zmq::Context,
        frontend: &zmq::Socket,
        backend: &zmq::Socket,
    ) -> Result<Self, zmq::Error> {
        let mut sockets = Vec::with_capacity(2);
        for (side, socket) in [(Side::Frontend, frontend), (Side::Backend, backend)] {
            let endpoint = format!("inproc://reqrep.monitor.{}", side.label());
            socket.monitor(&endpoint, monitor::events())?;
            let pair = ctx.socket(zmq::PAIR)?;
            pair.set_linger(0)?;
            pair.connect(&endpoint)?;
            sockets.push((side, pair));
        }
        Ok(Self { sockets })
    }

    /// The monitor sockets, for the poll.
    pub(super) fn sockets(&self) -> impl Iterator<Item = &zmq::Socket> {
        self.sockets.iter().map(|(_, s)| s)
    }

    /// Counts the failed handshakes reported on the monitor of `side`.
    pub(super) fn drain(
        &self,
        index: usize,
        now: Instant,
        counts: &mut AuthCounts,
        log: &mut Denials<(Side, AuthFailure, Option<String>)>,
    ) {
        let Some((side, socket)) = self.sockets.get(index) else {
            return;
        };
        loop {
            let frames = match socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EINTR) => continue,
                Err(_) => return,
            };
            let Some(failure) = frames.first().and_then(|f| monitor::failure_of(f)) else {
                continue;
            };
            counts.add(*side, failure);
            let peer = frames
                .get(1)
                .map(|f| String::from_utf8_lossy(f).into_owned());
            if let Some(suppressed) = log.note(now, (*side, failure, None)) {
                warn!(
                    side = side.label(),
                    reason = failure.label(),
                    endpoint = peer.as_deref().unwrap_or(""),
                    suppressed,
                    "handshake failed (a plaintext peer, or one with another server key)"
                );
            } else {
                debug!(side = side.label(), "handshake failed");
            }
        }
    }
}
