//! The table of live transactions: boxed entries in numbered slots, each [`TxId`] a slot and
//! the generation that slot had, so a handle kept after its transaction ended never finds the
//! next one in the same slot (RFC 3261 §17).
//!
//! A hash map keyed by a counter grew once more under churn in the 10-minute soak (hashbrown
//! grows a table over half full when deleted slots have used up its room, instead of
//! rehashing in place); this table only grows to the most transactions live at once, and a
//! lookup is an index.

use super::layer::TxId;

/// One slot: the generation of its current (or last) entry, and the entry if live.
#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    entry: Option<Box<T>>,
}

/// Entries addressed by [`TxId`]. A freed slot is reused only after [`Table::recycle`], which
/// the layer calls once its output queue is empty: until then an event naming the ended
/// transaction may still be on its way to the layer above, which keeps values by slot
/// ([`TxMap`]) and must not see a new transaction take them over first.
#[derive(Debug)]
pub(super) struct Table<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    released: Vec<u32>,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            released: Vec::new(),
            len: 0,
        }
    }
}

fn split(id: TxId) -> (usize, u32) {
    let raw = id.as_u64();
    ((raw & u64::from(u32::MAX)) as usize, (raw >> 32) as u32)
}

impl<T> Table<T> {
    /// Live entries.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Lets the slots freed since the last call serve new entries.
    pub(super) fn recycle(&mut self) {
        self.free.append(&mut self.released);
    }

    /// Whether no entry is live.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `entry` in a free slot (a new one if none is free) under a fresh generation.
    pub(super) fn insert(&mut self, entry: Box<T>) -> TxId {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.entry = Some(entry);
        self.len += 1;
        TxId((u64::from(slot.generation) << 32) | u64::from(index))
    }

    /// The live entry `id` names.
    pub(super) fn get(&self, id: TxId) -> Option<&T> {
        let (index, generation) = split(id);
        let slot = self.slots.get(index)?;
        (slot.generation == generation)
            .then_some(slot.entry.as_deref())
            .flatten()
    }

    /// The live entry `id` names, to change.
    pub(super) fn get_mut(&mut self, id: TxId) -> Option<&mut T> {
        let (index, generation) = split(id);
        let slot = self.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.entry.as_deref_mut()
    }

    /// Takes the live entry `id` names out; its slot is free again.
    pub(super) fn remove(&mut self, id: TxId) -> Option<Box<T>> {
        let (index, generation) = split(id);
        let slot = self.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let entry = slot.entry.take()?;
        self.released.push(index as u32);
        self.len -= 1;
        Some(entry)
    }
}

/// Values kept per live transaction by a layer above (the call core's role of each), addressed
/// like the table: by slot, checked against the generation; an entry whose transaction ended
/// without being removed is overwritten when its slot is used again.
#[derive(Debug)]
pub struct TxMap<V> {
    slots: Vec<Option<(u32, V)>>,
    len: usize,
}

impl<V> Default for TxMap<V> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<V> TxMap<V> {
    /// Entries kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps `value` for transaction `tx`; the value it had before, if any.
    pub fn insert(&mut self, tx: TxId, value: V) -> Option<V> {
        let (index, generation) = split(tx);
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        let old = self.slots[index].replace((generation, value));
        match old {
            Some((g, v)) if g == generation => Some(v),
            Some(_) => None,
            None => {
                self.len += 1;
                None
            }
        }
    }

    /// The value kept for transaction `tx`.
    pub fn get(&self, tx: &TxId) -> Option<&V> {
        let (index, generation) = split(*tx);
        match self.slots.get(index)? {
            Some((g, v)) if *g == generation => Some(v),
            _ => None,
        }
    }

    /// Takes the value kept for transaction `tx` out.
    pub fn remove(&mut self, tx: &TxId) -> Option<V> {
        let (index, generation) = split(*tx);
        let slot = self.slots.get_mut(index)?;
        if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
            self.len -= 1;
            return slot.take().map(|(_, v)| v);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_slot_is_reused_under_a_new_id_and_the_old_one_finds_nothing() {
        let mut t = Table::default();
        let a = t.insert(Box::new("a"));
        let b = t.insert(Box::new("b"));
        assert_ne!(a, b);
        assert_eq!((t.get(a), t.get(b), t.len()), (Some(&"a"), Some(&"b"), 2));
        assert_eq!(t.remove(a).as_deref(), Some(&"a"));
        assert_eq!((t.get(a), t.len()), (None, 1));
        assert!(t.remove(a).is_none(), "removed once");
        let fresh = t.insert(Box::new("x"));
        assert_ne!(split(fresh).0, split(a).0, "not reused before recycle()");
        t.recycle();
        let c = t.insert(Box::new("c"));
        assert_ne!(c, a, "same slot, new generation");
        assert_eq!(split(c).0, split(a).0, "the freed slot is reused");
        assert_eq!(t.get(a), None, "a stale handle finds nothing");
        assert!(t.get_mut(a).is_none() && t.remove(a).is_none());
        *t.get_mut(c).unwrap() = "c2";
        assert_eq!(t.get(c), Some(&"c2"));
        assert_eq!(t.get(TxId(999)), None, "never allocated");
        assert_eq!(t.slots.len(), 3, "grows only to the most live at once");
    }

    #[test]
    fn a_tx_map_follows_the_generation_and_a_reused_slot_overwrites_a_stale_value() {
        let mut t = Table::default();
        let mut m = TxMap::default();
        let a = t.insert(Box::new(()));
        assert_eq!(m.insert(a, 'a'), None);
        assert_eq!(m.insert(a, 'A'), Some('a'), "same transaction: replaced");
        assert_eq!((m.get(&a), m.len()), (Some(&'A'), 1));
        // The transaction ends without its value being removed; its slot is used again.
        t.remove(a);
        t.recycle();
        let b = t.insert(Box::new(()));
        assert_eq!(
            m.get(&b),
            None,
            "the stale value is not the new transaction's"
        );
        assert_eq!(m.insert(b, 'b'), None);
        assert_eq!((m.get(&a), m.get(&b), m.len()), (None, Some(&'b'), 1));
        assert_eq!(m.remove(&a), None);
        assert_eq!(m.remove(&b), Some('b'));
        assert!(m.is_empty() && m.get(&b).is_none());
    }
}
