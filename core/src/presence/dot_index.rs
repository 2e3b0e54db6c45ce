//! The per-replica index from dot counter to slot.
//!
//! A replica's counters are dense (it numbers its own events 1, 2, 3...), so the index is paged
//! like a sparse array: pages of consecutive counters, allocated on first use and freed when
//! their last entry leaves. A lookup hashes a page number and reads an array (the page filled
//! last is kept aside, so a replica's consecutive new dots skip the hashing); growing never
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
    /// The page counters were last added to, with its number, kept out of `pages`: a replica's
    /// new dots fill one page in a row, so most insertions find their page without hashing.
    recent: Option<(u64, Box<Page>)>,
    len: usize,
}

fn split(counter: u64) -> (u64, usize) {
    (counter >> PAGE_BITS, (counter as usize) & (PAGE - 1))
}

impl DotIndex {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn page(&self, number: u64) -> Option<&Page> {
        match &self.recent {
            Some((recent, page)) if *recent == number => Some(page),
            _ => self.pages.get(&number).map(|page| &**page),
        }
    }

    pub(crate) fn get(&self, counter: u64) -> Option<u32> {
        let (page, offset) = split(counter);
        let slot = self.page(page)?.slots[offset];
        (slot != EMPTY).then_some(slot)
    }

    /// Maps `counter` to `slot`; the counter must not be mapped yet.
    pub(crate) fn insert(&mut self, counter: u64, slot: u32) {
        let (number, offset) = split(counter);
        let page = match &mut self.recent {
            Some((recent, page)) if *recent == number => page,
            _ => {
                // The page becomes the recent one; the one it replaces goes back to the map.
                let page = self.pages.remove(&number).unwrap_or_else(|| {
                    Box::new(Page {
                        live: 0,
                        slots: [EMPTY; PAGE],
                    })
                });
                if let Some((previous, previous_page)) = self.recent.replace((number, page)) {
                    self.pages.insert(previous, previous_page);
                }
                &mut self.recent.as_mut().expect("just set").1
            }
        };
        debug_assert_eq!(page.slots[offset], EMPTY);
        page.slots[offset] = slot;
        page.live += 1;
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, counter: u64) -> Option<u32> {
        let (number, offset) = split(counter);
        let in_recent = matches!(&self.recent, Some((recent, _)) if *recent == number);
        let page = if in_recent {
            &mut self.recent.as_mut().expect("matched").1
        } else {
            self.pages.get_mut(&number)?
        };
        let slot = std::mem::replace(&mut page.slots[offset], EMPTY);
        if slot == EMPTY {
            return None;
        }
        page.live -= 1;
        self.len -= 1;
        if page.live == 0 {
            if in_recent {
                self.recent = None;
            } else {
                self.pages.remove(&number);
            }
        }
        Some(slot)
    }

    /// Every page with its number, by ascending number.
    fn pages_in_order(&self) -> Vec<(u64, &Page)> {
        let mut pages: Vec<(u64, &Page)> = self
            .pages
            .iter()
            .map(|(&number, page)| (number, &**page))
            .chain(self.recent.iter().map(|(number, page)| (*number, &**page)))
            .collect();
        crate::sort::sort_unstable_by(&mut pages, |a, b| a.0.cmp(&b.0));
        pages
    }

    /// Every mapped slot, by ascending counter: a replica's entries arrive mostly in counter
    /// order, so this walks the slab mostly forwards, and changes derived from it come in a
    /// deterministic order.
    pub(crate) fn slots_by_counter(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len);
        for (_, page) in self.pages_in_order() {
            out.extend(page.slots.iter().copied().filter(|&slot| slot != EMPTY));
        }
        out
    }

    /// Every mapped counter, ascending: what is derived from them (a merge's leaves, an
    /// extract) comes in the same order in every process, whatever the map's hashing.
    pub(crate) fn counters(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.len);
        for (number, page) in self.pages_in_order() {
            out.extend(
                page.slots
                    .iter()
                    .enumerate()
                    .filter(|(_, slot)| **slot != EMPTY)
                    .map(|(offset, _)| (number << PAGE_BITS) | offset as u64),
            );
        }
        out
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
        assert_eq!(index.pages_in_order().len(), 1, "emptied pages are freed");
        assert_eq!(index.counters(), vec![200]);
        assert_eq!(index.slots_by_counter(), vec![2000]);
        index.insert(3, 30);
        index.insert(700, 7000);
        assert_eq!(index.slots_by_counter(), vec![30, 2000, 7000]);
        assert_eq!(index.get(u64::MAX), None);
        index.insert(u64::MAX, 7);
        assert_eq!(index.get(u64::MAX), Some(7));
    }

    proptest::proptest! {
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((proptest::bool::ANY, 0u64..400), 0..300)) {
            let mut index = DotIndex::default();
            let mut model = std::collections::BTreeMap::new();
            for (insert, counter) in ops {
                if insert && !model.contains_key(&counter) {
                    index.insert(counter, counter as u32 + 1);
                    model.insert(counter, counter as u32 + 1);
                } else {
                    proptest::prop_assert_eq!(index.remove(counter), model.remove(&counter));
                }
                proptest::prop_assert_eq!(index.len(), model.len());
            }
            for counter in 0..400 {
                proptest::prop_assert_eq!(index.get(counter), model.get(&counter).copied());
            }
            proptest::prop_assert_eq!(index.slots_by_counter(), model.values().copied().collect::<Vec<_>>());
            proptest::prop_assert_eq!(index.counters(), model.keys().copied().collect::<Vec<_>>());
            let live_pages: std::collections::BTreeSet<u64> = model.keys().map(|c| c >> PAGE_BITS).collect();
            proptest::prop_assert_eq!(index.pages_in_order().len(), live_pages.len(), "no empty page is kept");
        }
    }
}
