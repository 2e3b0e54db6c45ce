//! The per-replica index from dot counter to slot.
//!
//! A replica's counters are dense (it numbers its own events 1, 2, 3...), so the index is paged
//! like a sparse array: pages of consecutive counters, allocated on first use and freed when
//! their last entry leaves. A lookup hashes a page number and reads an array; growing never
//! needs to look at the entries themselves. The price: a page with a single long-lived entry
//! among departed neighbours still costs its whole page (about 260 bytes).

use hashbrown::HashMap;

const PAGE_BITS: u32 = 6;
const PAGE: usize = 1 << PAGE_BITS;
const EMPTY: u32 = u32::MAX;

struct Page {
    live: u32,
    slots: [u32; PAGE],
}

/// Counter to slot, for one replica.
#[derive(Default)]
pub(crate) struct DotIndex {
    pages: HashMap<u64, Box<Page>>,
    len: usize,
}

fn split(counter: u64) -> (u64, usize) {
    (counter >> PAGE_BITS, (counter as usize) & (PAGE - 1))
}

impl DotIndex {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, counter: u64) -> Option<u32> {
        let (page, offset) = split(counter);
        let slot = self.pages.get(&page)?.slots[offset];
        (slot != EMPTY).then_some(slot)
    }

    /// Maps `counter` to `slot`; the counter must not be mapped yet.
    pub(crate) fn insert(&mut self, counter: u64, slot: u32) {
        let (page, offset) = split(counter);
        let page = self.pages.entry(page).or_insert_with(|| {
            Box::new(Page {
                live: 0,
                slots: [EMPTY; PAGE],
            })
        });
        debug_assert_eq!(page.slots[offset], EMPTY);
        page.slots[offset] = slot;
        page.live += 1;
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, counter: u64) -> Option<u32> {
        let (page_number, offset) = split(counter);
        let page = self.pages.get_mut(&page_number)?;
        let slot = std::mem::replace(&mut page.slots[offset], EMPTY);
        if slot == EMPTY {
            return None;
        }
        page.live -= 1;
        self.len -= 1;
        if page.live == 0 {
            self.pages.remove(&page_number);
        }
        Some(slot)
    }

    /// Every mapped slot, by ascending counter: a replica's entries arrive mostly in counter
    /// order, so this walks the slab mostly forwards, and changes derived from it come in a
    /// deterministic order.
    pub(crate) fn slots_by_counter(&self) -> Vec<u32> {
        let mut pages: Vec<(u64, &Page)> = self
            .pages
            .iter()
            .map(|(&number, page)| (number, &**page))
            .collect();
        pages.sort_unstable_by_key(|&(number, _)| number);
        let mut out = Vec::with_capacity(self.len);
        for (_, page) in pages {
            out.extend(page.slots.iter().copied().filter(|&slot| slot != EMPTY));
        }
        out
    }

    /// Every mapped counter, in no particular order.
    pub(crate) fn counters(&self) -> impl Iterator<Item = u64> + '_ {
        self.pages.iter().flat_map(|(&page, entries)| {
            entries
                .slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| **slot != EMPTY)
                .map(move |(offset, _)| (page << PAGE_BITS) | offset as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_frees_pages() {
        let mut index = DotIndex::default();
        for counter in 1..=200u64 {
            index.insert(counter, counter as u32 * 10);
        }
        assert_eq!(index.len(), 200);
        assert_eq!(index.get(130), Some(1300));
        assert_eq!(index.get(201), None);
        for counter in 1..=199u64 {
            assert_eq!(index.remove(counter), Some(counter as u32 * 10));
        }
        assert_eq!(index.remove(5), None);
        assert_eq!(index.pages.len(), 1, "emptied pages are freed");
        assert_eq!(index.counters().collect::<Vec<_>>(), vec![200]);
        assert_eq!(index.slots_by_counter(), vec![2000]);
        index.insert(3, 30);
        index.insert(700, 7000);
        assert_eq!(index.slots_by_counter(), vec![30, 2000, 7000]);
        assert_eq!(index.get(u64::MAX), None);
        index.insert(u64::MAX, 7);
        assert_eq!(index.get(u64::MAX), Some(7));
    }
}
