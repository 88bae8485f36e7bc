//! The socket driver of a worker serving several brokers: one
//! [`WorkerSession`] and DEALER per broker backend, one [`CreditBudget`]
//! for all of them (see `budget` for the rules), one executor and results
//! socket. Each session registers, heartbeats and reconnects on its own;
//! the budget decides each one's credits, changed with READY updates
//! (PROTOCOL.md section 6.2 rule 6), so the brokers together never have
//! more requests at the worker than its credits, and none waits inside it.

use std::time::Instant;

use reqrep_core::socket::{self, Endpoint, recv_frames};
use reqrep_core::{Frame, Status};
use tracing::{debug, info, warn};

use super::budget::{CreditBudget, Phase};
use super::core::{Executor, reply_frames, send, untag};
use super::{WorkerAction, WorkerOptions, WorkerSession, WorkerStats};
use crate::client::requester::{poll_items, poll_ms};
use crate::{STOP_POLL_SLICE, StopToken, WorkerError};

/// A request's tag: its session's index and connection.
fn tag(session: usize, generation: u32) -> u64 {
    ((session as u64) << 32) | u64::from(generation)
}

fn untag_ids(tag: u64) -> (usize, u32) {
    ((tag >> 32) as usize, tag as u32)
}

pub(crate) struct MultiCore<'a> {
    pub(crate) ctx: &'a zmq::Context,
    pub(crate) endpoints: &'a [Endpoint],
    pub(crate) service: &'a str,
    pub(crate) options: &'a WorkerOptions,
    pub(crate) results: &'a zmq::Socket,
    pub(crate) inline: bool,
}

/// One broker's session and socket.
struct Link {
    session: WorkerSession,
    dealer: Option<zmq::Socket>,
    /// While the session is due to reconnect: a DEALER with
    /// `ZMQ_IMMEDIATE` that sends nothing and becomes writable once a
    /// connection to the broker is up. Only then does the session connect
    /// and take a credit for its READY, so a broker that is down takes none.
    probe: Option<zmq::Socket>,
    closed: bool,
}

impl MultiCore<'_> {
    /// Serves until `stop` (then every session sends DISCONNECT and closes
    /// with its linger), or until a broker refuses the worker
    /// ([`WorkerError::Refused`]).
    pub(crate) fn run(
        &self,
        executor: &mut dyn Executor,
        stop: &StopToken,
    ) -> Result<WorkerStats, WorkerError> {
        let mut budget =
            CreditBudget::new(self.options.credits, self.endpoints.len()).map_err(|e| {
                WorkerError::TooFewCredits {
                    credits: e.credits,
                    brokers: e.brokers,
                }
            })?;
        let probe = self.options.clone().credits(1);
        let start = Instant::now();
        let mut links: Vec<Link> = self
            .endpoints
            .iter()
            .map(|_| Link {
                session: WorkerSession::new(self.service, &probe, fastrand::u64(..), start)
                    .expect_credit_echoes(),
                dealer: None,
                probe: None,
                closed: false,
            })
            .collect();
        let mut stopping = false;
        loop {
            self.settle(&mut links, &mut budget, executor)?;
            if links.iter().all(|l| l.closed) {
                return Ok(total_stats(&links));
            }
            if stop.is_stopped() && !stopping {
                stopping = true;
                for link in &mut links {
                    link.session.stop(Instant::now());
                }
                continue;
            }
            let now = Instant::now();
            let mut wake = now + STOP_POLL_SLICE;
            let mut fired = false;
            for (i, link) in links.iter_mut().enumerate() {
                let Some(due) = link.session.next_timeout() else {
                    continue;
                };
                if now < due {
                    wake = wake.min(due);
                    continue;
                }
                if link.session.is_backing_off() {
                    if stopping {
                        continue;
                    }
                    // Reconnect once the broker accepts connections, and
                    // with a credit for READY; otherwise the budget makes
                    // room and a later pass tries again.
                    let Some(probe) = &link.probe else {
                        link.probe = Some(self.probe(i)?);
                        continue;
                    };
                    if !probe.get_events()?.contains(zmq::POLLOUT) || !budget.may_connect(i) {
                        continue;
                    }
                    link.probe = None;
                    link.session.set_credits(1);
                }
                link.session.on_tick(now);
                fired = true;
            }
            if fired {
                continue;
            }
            let mut items: Vec<zmq::PollItem<'_>> = Vec::with_capacity(links.len() + 1);
            let mut owners = Vec::with_capacity(links.len());
            for (i, link) in links.iter().enumerate() {
                if let Some(socket) = &link.dealer {
                    items.push(socket.as_poll_item(zmq::POLLIN));
                    owners.push(i);
                }
            }
            if !self.inline {
                items.push(self.results.as_poll_item(zmq::POLLIN));
            }
            // A probe's connection coming up ends the wait.
            items.extend(
                links
                    .iter()
                    .filter_map(|l| l.probe.as_ref())
                    .map(|p| p.as_poll_item(zmq::POLLOUT)),
            );
            if items.is_empty() {
                stop.wait_timeout(wake.saturating_duration_since(now));
                continue;
            }
            poll_items(&mut items, poll_ms(wake.saturating_duration_since(now)))?;
            let readable: Vec<usize> = owners
                .iter()
                .enumerate()
                .filter(|(k, _)| items[*k].is_readable())
                .map(|(_, &i)| i)
                .collect();
            let done = !self.inline && items[owners.len()].is_readable();
            drop(items);
            if done {
                loop {
                    match recv_frames(self.results, zmq::DONTWAIT) {
                        Ok(frames) => {
                            let Some((tag, reply)) = untag(frames) else {
                                continue;
                            };
                            let (i, generation) = untag_ids(tag);
                            if let Some(link) = links.get_mut(i) {
                                budget.on_done(i, generation);
                                link.session.on_reply(Instant::now(), reply);
                            }
                        }
                        Err(zmq::Error::EAGAIN) => break,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            for i in readable {
                self.receive(i, &mut links, &mut budget, executor)?;
            }
        }
    }

    /// A socket that tells when broker `i` accepts connections (see
    /// [`Link::probe`]).
    fn probe(&self, i: usize) -> Result<zmq::Socket, WorkerError> {
        let socket = self.ctx.socket(zmq::DEALER)?;
        self.options.socket.apply(&socket)?;
        socket.set_immediate(true)?;
        socket.set_linger(0)?;
        socket::connect(&socket, &self.endpoints[i])?;
        Ok(socket)
    }

    /// Carries out every session's actions and the budget's READY updates
    /// until none is left.
    fn settle(
        &self,
        links: &mut [Link],
        budget: &mut CreditBudget,
        executor: &mut dyn Executor,
    ) -> Result<(), WorkerError> {
        loop {
            for i in 0..links.len() {
                self.perform(i, links, budget, executor)?;
            }
            let plan = budget.plan();
            if plan.is_empty() {
                return Ok(());
            }
            for (i, credits) in plan {
                debug!(broker = %self.endpoints[i], credits, "credits moved");
                links[i].session.set_credits(credits);
            }
        }
    }

    /// Takes every message waiting on session `i`'s socket.
    fn receive(
        &self,
        i: usize,
        links: &mut [Link],
        budget: &mut CreditBudget,
        executor: &mut dyn Executor,
    ) -> Result<(), WorkerError> {
        while let Some(socket) = links[i].dealer.as_ref() {
            let frames = match recv_frames(socket, zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => return Err(e.into()),
            };
            // A message the session cannot use is counted and logged there.
            let _ = links[i].session.on_message(Instant::now(), frames);
            if links[i].session.has_heard() && budget.phase(i) == Phase::Probing {
                info!(broker = %self.endpoints[i], "broker live");
                budget.on_heard(i);
            }
            self.perform(i, links, budget, executor)?;
        }
        Ok(())
    }

    /// Carries out session `i`'s actions.
    fn perform(
        &self,
        i: usize,
        links: &mut [Link],
        budget: &mut CreditBudget,
        executor: &mut dyn Executor,
    ) -> Result<(), WorkerError> {
        let link = &mut links[i];
        while let Some(action) = link.session.poll_action() {
            match action {
                WorkerAction::Connect => {
                    let socket = self.ctx.socket(zmq::DEALER)?;
                    self.options.socket.apply(&socket)?;
                    socket::connect(&socket, &self.endpoints[i])?;
                    link.dealer = Some(socket);
                }
                WorkerAction::Send(out) => {
                    if let Some(socket) = link.dealer.as_ref() {
                        send(socket, out)?;
                    }
                }
                WorkerAction::Deliver(d) => {
                    if !budget.on_deliver(i) {
                        // More than this broker may send: answered, not run.
                        warn!(broker = %self.endpoints[i], correlation_id = %d.request.id, "request beyond the broker's credits rejected");
                        let status =
                            Status::resource_exhausted("more requests than the worker's credits");
                        let reply = reply_frames(&d.request, Err(status));
                        link.session.on_reply(Instant::now(), reply);
                        continue;
                    }
                    let generation = budget.generation(i);
                    let reply: Option<Vec<Frame>> =
                        executor.execute(tag(i, generation), d.request, d.payload, d.deadline);
                    if let Some(reply) = reply {
                        budget.on_done(i, generation);
                        link.session.on_reply(Instant::now(), reply);
                    }
                }
                WorkerAction::CreditsConfirmed { .. } => budget.on_confirmed(i),
                WorkerAction::Reconnect { .. } => {
                    link.dealer = None;
                    budget.on_down(i);
                    info!(broker = %self.endpoints[i], "broker lost; its credits go to the others");
                }
                WorkerAction::Refused(status) => {
                    for link in links.iter_mut() {
                        if let Some(socket) = link.dealer.take() {
                            socket.set_linger(0)?;
                        }
                    }
                    return Err(WorkerError::Refused(status));
                }
                WorkerAction::Closed { linger } => {
                    if let Some(socket) = link.dealer.take() {
                        socket.set_linger(i32::try_from(linger.as_millis()).unwrap_or(i32::MAX))?;
                    }
                    link.closed = true;
                    budget.on_down(i);
                }
            }
        }
        Ok(())
    }
}

/// The counters of every session, summed.
fn total_stats(links: &[Link]) -> WorkerStats {
    links
        .iter()
        .map(|l| l.session.stats())
        .fold(WorkerStats::default(), |a, b| WorkerStats {
            requests: a.requests + b.requests,
            replies: a.replies + b.replies,
            sessions: a.sessions + b.sessions,
            malformed: a.malformed + b.malformed,
            rejected: a.rejected + b.rejected,
            abandoned: a.abandoned + b.abandoned,
        })
}
