//! The requests the broker holds: a slab of entries addressed by
//! generational ids, and an index from (client route, correlation id) to
//! slot that stores only the slot number (the key lives in the entry).
//!
//! Ids of removed entries may linger in the deadline heap and the service
//! queues; a slot's generation changes on every removal, so such an id never
//! finds a later occupant of its slot.

use std::hash::BuildHasher;
use std::num::NonZeroU32;

use hashbrown::HashTable;
use reqrep_core::{CorrelationId, Metadata};

use super::payload::Payload;
use super::{Route, ServiceId, Tick};

/// A registered worker's slot number (see `BrokerState::workers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WorkerId(NonZeroU32);

impl WorkerId {
    pub(super) fn from_index(index: usize) -> Option<Self> {
        u32::try_from(index)
            .ok()
            .and_then(|i| i.checked_add(1))
            .and_then(NonZeroU32::new)
            .map(Self)
    }

    pub(super) fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

/// An entry's address: its slot and the slot's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct EntryId {
    index: u32,
    generation: u32,
}

/// One request the broker holds, queued or in flight. The REQUEST header
/// as received is kept field by field: the service as its table slot,
/// metadata boxed (usually absent), the timeout as the deadline; the worker
/// is sent a header rebuilt from these.
pub(super) struct Entry {
    /// The client's routing frames; with `id`, the request's key.
    pub(super) route: Route,
    pub(super) id: CorrelationId,
    pub(super) received: Tick,
    pub(super) deadline: Tick,
    /// While queued, the payload; while in flight, a copy kept for a
    /// re-dispatch when `retriable`, else none.
    pub(super) payload: Payload,
    /// Like the payload: kept while queued, or in flight when `retriable`.
    pub(super) metadata: Option<Box<Metadata>>,
    pub(super) service: ServiceId,
    pub(super) attempt: u32,
    /// The worker holding it; `None` while queued.
    pub(super) worker: Option<WorkerId>,
    pub(super) idempotent: bool,
    pub(super) fail_fast: bool,
    /// A re-dispatch is possible (payload and metadata kept).
    pub(super) retriable: bool,
}

impl Entry {
    /// Waiting in its service's queue (not dispatched).
    pub(super) fn is_queued(&self) -> bool {
        self.worker.is_none()
    }
}

/// No free slot.
const NONE: u32 = u32::MAX;

struct Slot {
    generation: u32,
    /// The next free slot, when this one is free.
    next_free: u32,
    entry: Option<Entry>,
}

/// The hash of a request key, computed once per message.
#[derive(Clone, Copy)]
pub(super) struct KeyHash(u64);

/// Entries by id, and by key.
pub(super) struct Entries {
    slots: Vec<Slot>,
    /// Head of the free list (lowest slots first after a shrink).
    free: u32,
    len: usize,
    /// Generation given to slots created from now on: above that of every
    /// slot dropped by a shrink, so lingering ids stay stale.
    fresh_generation: u32,
    by_key: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Entries {
    pub(super) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: NONE,
            len: 0,
            fresh_generation: 0,
            by_key: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots allocated.
    pub(super) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    pub(super) fn hash(&self, route: &Route, id: &CorrelationId) -> KeyHash {
        KeyHash(self.hasher.hash_one((route, id)))
    }

    pub(super) fn get(&self, id: EntryId) -> Option<&Entry> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_ref()
    }

    pub(super) fn get_mut(&mut self, id: EntryId) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_mut()
    }

    /// The entry with this key; `hash` is [`Self::hash`] of it.
    pub(super) fn find(&self, hash: KeyHash, route: &Route, id: &CorrelationId) -> Option<EntryId> {
        let slots = &self.slots;
        let &index = self.by_key.find(hash.0, |&i| {
            slots[i as usize]
                .entry
                .as_ref()
                .is_some_and(|e| e.id == *id && e.route == *route)
        })?;
        Some(EntryId {
            index,
            generation: slots[index as usize].generation,
        })
    }

    /// Adds `entry`, whose key is not held yet; `hash` is [`Self::hash`] of
    /// its key.
    pub(super) fn insert(&mut self, hash: KeyHash, entry: Entry) -> EntryId {
        let index = if self.free == NONE {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|i| *i != NONE)
                .expect("fewer than 2^32 - 1 requests held");
            self.slots.push(Slot {
                generation: self.fresh_generation,
                next_free: NONE,
                entry: Some(entry),
            });
            index
        } else {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            self.free = slot.next_free;
            slot.next_free = NONE;
            slot.entry = Some(entry);
            index
        };
        self.len += 1;
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_key
            .insert_unique(hash.0, index, |&i| rehash(slots, hasher, i));
        EntryId {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    pub(super) fn remove(&mut self, id: EntryId) -> Option<Entry> {
        self.remove_inner(id, None)
    }

    /// [`Self::remove`], given the hash of the entry's key.
    pub(super) fn remove_hashed(&mut self, id: EntryId, hash: KeyHash) -> Option<Entry> {
        self.remove_inner(id, Some(hash))
    }

    fn remove_inner(&mut self, id: EntryId, hash: Option<KeyHash>) -> Option<Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        slot.next_free = self.free;
        self.free = id.index;
        self.len -= 1;
        let hash = hash.unwrap_or_else(|| self.hash(&entry.route, &entry.id));
        if let Ok(found) = self.by_key.find_entry(hash.0, |&i| i == id.index) {
            found.remove();
        }
        Some(entry)
    }

    /// Every entry, in slot order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (EntryId, &Entry)> {
        self.slots.iter().zip(0u32..).filter_map(|(slot, index)| {
            let id = EntryId {
                index,
                generation: slot.generation,
            };
            slot.entry.as_ref().map(|e| (id, e))
        })
    }

    /// Gives memory back once most of it is unused: drops free slots at the
    /// end of the slab and shrinks the key index. Returns the bytes freed.
    /// O(1) unless there is something to free.
    pub(super) fn shrink(&mut self, slack: usize) -> usize {
        let mut freed = 0;
        if self.slots.capacity() > 4 * self.len + slack {
            let before = self.slots.capacity();
            let mut keep = self.slots.len();
            while keep > 0 && self.slots[keep - 1].entry.is_none() {
                keep -= 1;
            }
            if before - keep > slack {
                for slot in &self.slots[keep..] {
                    self.fresh_generation = self.fresh_generation.max(slot.generation);
                }
                self.slots.truncate(keep);
                self.slots.shrink_to_fit();
                // Lowest slots first, so that later shrinks find the end free.
                self.free = NONE;
                for (index, slot) in self.slots.iter_mut().enumerate().rev() {
                    if slot.entry.is_none() {
                        slot.next_free = self.free;
                        // `keep` came from a slot count below `NONE`.
                        self.free = u32::try_from(index).unwrap_or(NONE);
                    }
                }
                freed += (before - self.slots.capacity()) * size_of::<Slot>();
            }
        }
        if self.by_key.capacity() > 4 * self.len + slack {
            let before = self.by_key.capacity();
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.by_key
                .shrink_to(self.len, |&i| rehash(slots, hasher, i));
            freed += before.saturating_sub(self.by_key.capacity()) * (size_of::<u32>() + 1);
        }
        freed
    }
}

fn rehash(slots: &[Slot], hasher: &foldhash::fast::RandomState, index: u32) -> u64 {
    slots[index as usize]
        .entry
        .as_ref()
        .map_or(0, |e| hasher.hash_one((&e.route, &e.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(client: u8, n: u8) -> Entry {
        Entry {
            route: Route::single(&[client]).unwrap(),
            id: CorrelationId::from([n; 16]),
            received: 0,
            deadline: 0,
            payload: Payload::none(),
            metadata: None,
            service: ServiceId(0),
            attempt: 1,
            worker: None,
            idempotent: false,
            fail_fast: false,
            retriable: false,
        }
    }

    fn add(entries: &mut Entries, e: Entry) -> EntryId {
        let hash = entries.hash(&e.route, &e.id);
        entries.insert(hash, e)
    }

    fn find(entries: &Entries, client: u8, n: u8) -> Option<EntryId> {
        let (route, id) = (
            Route::single(&[client]).unwrap(),
            CorrelationId::from([n; 16]),
        );
        entries.find(entries.hash(&route, &id), &route, &id)
    }

    #[test]
    fn removed_ids_never_find_a_later_occupant() {
        let mut entries = Entries::new();
        let a = add(&mut entries, entry(1, 1));
        assert_eq!(find(&entries, 1, 1), Some(a));
        assert!(find(&entries, 2, 1).is_none());
        assert!(entries.remove(a).is_some());
        assert!(entries.remove(a).is_none());
        let b = add(&mut entries, entry(2, 1));
        assert!(entries.get(a).is_none());
        assert_eq!(entries.get(b).map(|e| e.route.clone()), Route::single(&[2]));
        assert!(find(&entries, 1, 1).is_none());
        assert_eq!(find(&entries, 2, 1), Some(b));
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn shrinking_keeps_live_entries_and_stale_ids_stale() {
        let mut entries = Entries::new();
        let ids: Vec<EntryId> = (0..5000u32)
            .map(|n| add(&mut entries, entry((n % 200) as u8, (n / 200) as u8)))
            .collect();
        for id in &ids[10..] {
            assert!(entries.remove(*id).is_some());
        }
        assert!(entries.shrink(64) > 0);
        assert!(entries.capacity() < 100);
        assert_eq!(entries.len(), 10);
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(entries.get(*id).is_some(), n < 10);
        }
        for n in 0..10u32 {
            assert!(find(&entries, (n % 200) as u8, (n / 200) as u8).is_some());
        }
        // Slots dropped and created again do not revive old ids.
        let fresh: Vec<EntryId> = (0..100u8)
            .map(|n| add(&mut entries, entry(250, n)))
            .collect();
        for id in &ids[10..] {
            assert!(entries.get(*id).is_none());
        }
        assert!(fresh.iter().all(|id| entries.get(*id).is_some()));
        assert_eq!(entries.iter().count(), 110);
    }

    #[test]
    fn an_entry_stays_small() {
        assert!(size_of::<Slot>() <= 112, "{}", size_of::<Slot>());
    }
}
