//! One worker's credits shared by its sessions with several brokers, as a
//! socket-free structure (the driver feeds it what its sessions do).
//!
//! A worker with `credits` C serving brokers B1..Bn never has more than C
//! requests that the brokers may have dispatched and not had answered.
//! Each broker's session **claims** credits:
//!
//! - a broker judged dead (its session backing off) claims nothing; the
//!   requests it delivered that still run become **orphans**, which claim
//!   one credit each until they finish;
//! - a session that connected and sent READY but has not heard from its
//!   broker yet (**probing**) claims the 1 credit its READY announced (the
//!   driver reconnects only once a connection to the broker is up, so a
//!   broker that is down costs nothing while the worker waits for it);
//! - a live session (it has heard from its broker since READY) claims what
//!   it announced, or what it holds when more; while a lower count it sent
//!   is not confirmed by the broker's READY echo (PROTOCOL.md section 6.2
//!   rule 6), the old, higher count, since requests dispatched under it may
//!   still be on their way.
//!
//! The credits not claimed are **free**. The targets split C among the
//! sessions: 1 for each probing one (or waiting to connect), the rest
//! evenly over the live ones (C=16 over 3 live: 6/5/5). [`CreditBudget::plan`]
//! lowers sessions above their target first and raises those below only by
//! credits actually free, so the claims never sum above C. A worker needs
//! at least as many credits as brokers (each session announces at least
//! 1): [`CreditBudget::new`] refuses fewer.

/// Where a broker's session is, as the budget sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Judged dead (backing off before a reconnect): claims nothing.
    Down,
    /// Its backoff is over but no credit was free for its READY.
    Wanting,
    /// Connected with READY for 1 credit; nothing heard from the broker.
    Probing,
    /// Heard from its broker since READY.
    Live,
}

#[derive(Debug)]
struct Slot {
    phase: Phase,
    /// Credits its broker may use: the latest READY, or the previous one
    /// while a lowering awaits the broker's echo.
    announced: u32,
    /// A lower count sent in READY, and that READY's number among the
    /// updates of this connection, until the broker's echo of it.
    lowering: Option<(u32, u32)>,
    /// READY updates sent on this connection (the first READY excluded:
    /// the broker echoes only updates).
    updates: u32,
    /// Echoes received on this connection; the broker echoes in order.
    echoes: u32,
    /// Requests of its current connection still running.
    held: u32,
    /// Its current connection (deliveries are tagged with it).
    generation: u32,
}

impl Slot {
    fn claim(&self) -> u32 {
        match self.phase {
            Phase::Down | Phase::Wanting => 0,
            Phase::Probing | Phase::Live => self.announced.max(self.held),
        }
    }
}

/// Why a multi-broker worker cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooFewCredits {
    pub(crate) credits: u32,
    pub(crate) brokers: usize,
}

/// A worker's credits shared among its brokers' sessions (module docs).
#[derive(Debug)]
pub(crate) struct CreditBudget {
    total: u32,
    slots: Vec<Slot>,
    /// Requests still running from connections that are gone.
    orphans: u32,
}

impl CreditBudget {
    /// A budget of `total` credits for `brokers` sessions, all probing
    /// with 1 credit (as they start: connected, READY for 1 sent).
    pub(crate) fn new(total: u32, brokers: usize) -> Result<Self, TooFewCredits> {
        if brokers == 0 || (total as usize) < brokers {
            return Err(TooFewCredits {
                credits: total,
                brokers,
            });
        }
        let slots = (0..brokers)
            .map(|_| Slot {
                phase: Phase::Probing,
                announced: 1,
                lowering: None,
                updates: 0,
                echoes: 0,
                held: 0,
                generation: 1,
            })
            .collect();
        Ok(Self {
            total,
            slots,
            orphans: 0,
        })
    }

    /// Credits neither claimed by a session nor held by an orphan.
    pub(crate) fn free(&self) -> u32 {
        let claimed: u32 = self.slots.iter().map(Slot::claim).sum();
        self.total.saturating_sub(claimed + self.orphans)
    }

    /// Credits claimed in all: what the brokers may have dispatched and not
    /// had answered, at most. Never above the total.
    #[cfg(test)]
    pub(crate) fn claimed(&self) -> u32 {
        self.slots.iter().map(Slot::claim).sum::<u32>() + self.orphans
    }

    /// Where session `i` is.
    pub(crate) fn phase(&self, i: usize) -> Phase {
        self.slots[i].phase
    }

    /// The credits session `i`'s broker may use now.
    #[cfg(test)]
    pub(crate) fn announced(&self, i: usize) -> u32 {
        let slot = &self.slots[i];
        match slot.phase {
            Phase::Down | Phase::Wanting => 0,
            _ => slot.announced,
        }
    }

    /// Session `i`'s current connection.
    pub(crate) fn generation(&self, i: usize) -> u32 {
        self.slots[i].generation
    }

    /// Session `i`'s broker was judged dead: its running requests become
    /// orphans and it claims nothing.
    pub(crate) fn on_down(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if matches!(slot.phase, Phase::Probing | Phase::Live) {
            self.orphans += slot.held;
        }
        *slot = Slot {
            phase: Phase::Down,
            announced: 0,
            lowering: None,
            updates: 0,
            echoes: 0,
            held: 0,
            generation: slot.generation,
        };
    }

    /// Session `i`'s backoff is over: whether it may connect now with
    /// READY for 1 credit (a credit is free; it is then probing, on a new
    /// generation). If not, it waits, and the targets make room for it.
    pub(crate) fn may_connect(&mut self, i: usize) -> bool {
        let free = self.free();
        let slot = &mut self.slots[i];
        if !matches!(slot.phase, Phase::Down | Phase::Wanting) {
            return false;
        }
        if free == 0 {
            slot.phase = Phase::Wanting;
            return false;
        }
        slot.phase = Phase::Probing;
        slot.announced = 1;
        slot.updates = 0;
        slot.echoes = 0;
        slot.generation = slot.generation.wrapping_add(1);
        true
    }

    /// Session `i` heard from its broker since its READY.
    pub(crate) fn on_heard(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.phase == Phase::Probing {
            slot.phase = Phase::Live;
        }
    }

    /// Session `i`'s broker echoed a READY update: once it echoed the
    /// lowering's, the lower count is in force (every request dispatched
    /// under the higher one has arrived before the echo).
    pub(crate) fn on_confirmed(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if !matches!(slot.phase, Phase::Probing | Phase::Live) {
            return;
        }
        slot.echoes = slot.echoes.saturating_add(1);
        if let Some((credits, number)) = slot.lowering
            && slot.echoes >= number
        {
            slot.announced = credits;
            slot.lowering = None;
        }
    }

    /// Session `i` delivers a request: false (not counted) when its broker
    /// sent more than it may, which the driver answers without running it.
    pub(crate) fn on_deliver(&mut self, i: usize) -> bool {
        let slot = &mut self.slots[i];
        if !matches!(slot.phase, Phase::Probing | Phase::Live) || slot.held >= slot.announced {
            return false;
        }
        slot.held += 1;
        true
    }

    /// A request delivered by session `i` on connection `generation`
    /// finished.
    pub(crate) fn on_done(&mut self, i: usize, generation: u32) {
        let slot = &mut self.slots[i];
        if slot.generation == generation
            && matches!(slot.phase, Phase::Probing | Phase::Live)
            && slot.held > 0
        {
            slot.held -= 1;
        } else {
            self.orphans = self.orphans.saturating_sub(1);
        }
    }

    /// Each session's target: 1 for each probing or waiting one (in order,
    /// while credits last), the rest split evenly over the live ones, the
    /// first ones getting the remainder.
    pub(crate) fn targets(&self) -> Vec<u32> {
        let mut targets = vec![0; self.slots.len()];
        let mut rest = self.total;
        for (i, slot) in self.slots.iter().enumerate() {
            if matches!(slot.phase, Phase::Probing | Phase::Wanting) && rest > 0 {
                targets[i] = 1;
                rest -= 1;
            }
        }
        let live: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].phase == Phase::Live)
            .collect();
        let n = live.len() as u32;
        for (k, &i) in live.iter().enumerate() {
            targets[i] = rest / n + u32::from((k as u32) < rest % n);
        }
        targets
    }

    /// The READYs to send, as `(session, credits)`: lowerings first (above
    /// target, none pending), then raises of live sessions below target by
    /// the credits free, one credit to each in turn.
    pub(crate) fn plan(&mut self) -> Vec<(usize, u32)> {
        let targets = self.targets();
        let mut changes = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let live = matches!(slot.phase, Phase::Probing | Phase::Live);
            let target = targets[i].max(1);
            if live && slot.lowering.is_none() && slot.announced > target {
                slot.updates += 1;
                slot.lowering = Some((target, slot.updates));
                changes.push((i, target));
            }
        }
        let mut raised = vec![false; self.slots.len()];
        let mut free = self.free();
        while free > 0 {
            let mut any = false;
            for (i, slot) in self.slots.iter_mut().enumerate() {
                if free > 0
                    && slot.phase == Phase::Live
                    && slot.lowering.is_none()
                    && slot.announced < targets[i]
                {
                    // Raising above what it holds claims one more credit.
                    if slot.announced >= slot.held {
                        free -= 1;
                    }
                    slot.announced += 1;
                    raised[i] = true;
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if raised[i] {
                slot.updates += 1;
                changes.push((i, slot.announced));
            }
        }
        changes
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
