//! Sorting of the core's own lists: the standard library's sorts natively, a heapsort in wasm.
//!
//! The standard sorts are fast and large: each element type sorted costs several kilobytes of
//! code, and the wasm package, which is downloaded, sorts a dozen types. A heapsort is one small
//! function per type. Every list sorted through here has keys that are never equal (or equal
//! only for identical elements), so both give the same order; the lists a decoder sorts usually
//! arrive sorted, and that case costs one pass. Reads (`list`, `get_by_key`) keep the standard
//! sort everywhere: their keys come in any order, and there the heapsort's extra comparisons
//! cost a 1,000-presence list about a fifth more time in wasm.

use std::cmp::Ordering;

/// Sorts `items` by `compare`, equal elements in no particular order.
pub(crate) fn sort_unstable_by<T>(items: &mut [T], mut compare: impl FnMut(&T, &T) -> Ordering) {
    if cfg!(target_arch = "wasm32") {
        heapsort(items, &mut compare);
    } else {
        items.sort_unstable_by(compare);
    }
}

/// Sorts `items` in place in O(n log n) comparisons, or one pass when they are sorted already.
pub(crate) fn heapsort<T>(items: &mut [T], compare: &mut impl FnMut(&T, &T) -> Ordering) {
    if items.is_sorted_by(|a, b| compare(a, b) != Ordering::Greater) {
        return;
    }
    let len = items.len();
    for root in (0..len / 2).rev() {
        sift_down(items, root, len, compare);
    }
    for end in (1..len).rev() {
        items.swap(0, end);
        sift_down(items, 0, end, compare);
    }
}

/// Moves `items[root]` down the max-heap held in `items[..end]` to where it belongs.
fn sift_down<T>(
    items: &mut [T],
    mut root: usize,
    end: usize,
    compare: &mut impl FnMut(&T, &T) -> Ordering,
) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && compare(&items[child], &items[child + 1]) == Ordering::Less {
            child += 1;
        }
        if compare(&items[root], &items[child]) != Ordering::Less {
            return;
        }
        items.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn heapsort_sorts_as_the_standard_sort_does(
            mut items in prop::collection::vec((0u8..16, any::<u16>()), 0..300),
            presorted in any::<bool>(),
        ) {
            if presorted {
                items.sort_unstable();
            }
            let mut expected = items.clone();
            expected.sort_unstable();
            heapsort(&mut items, &mut |a: &(u8, u16), b: &(u8, u16)| a.cmp(b));
            prop_assert_eq!(items, expected);
        }
    }

    #[test]
    fn heapsort_orders_by_the_comparison_given() {
        let mut words = ["pear", "fig", "apple", "kiwi", "banana"];
        heapsort(&mut words, &mut |a: &&str, b: &&str| {
            a.len().cmp(&b.len()).then(a.cmp(b))
        });
        assert_eq!(words, ["fig", "kiwi", "pear", "apple", "banana"]);
        let mut descending: Vec<u32> = (0..1000).rev().collect();
        heapsort(&mut descending, &mut |a: &u32, b: &u32| a.cmp(b));
        assert!(descending.iter().copied().eq(0..1000));
    }
}
