//! Finding the selectors that may match a pod without testing each.

use std::collections::BTreeMap;

use crate::vocab::labels::LabelSelector;

/// Items (by index) keyed by one label their selector requires, so that finding the items whose
/// selector may match a pod costs one lookup per pod label instead of a test per item.
#[derive(Clone, Debug, Default)]
pub(crate) struct SelectorIndex {
    keyed: BTreeMap<String, BTreeMap<String, Vec<usize>>>,
    unkeyed: Vec<usize>,
}

impl SelectorIndex {
    /// File `item` under the first `matchLabels` pair of `selector` (every match has it), or
    /// with the items every label set may match.
    pub fn insert(&mut self, selector: &LabelSelector, item: usize) {
        self.insert_under(selector.match_labels.iter().next().map(|(k, v)| (k.as_str(), v.as_str())), item);
    }

    /// File `item` under a label pair every label set it may match has, or with the items
    /// every label set may match (`None`).
    pub(crate) fn insert_under(&mut self, required: Option<(&str, &str)>, item: usize) {
        match required {
            Some((k, v)) => {
                self.keyed.entry(k.to_string()).or_default().entry(v.to_string()).or_default().push(item)
            }
            None => self.unkeyed.push(item),
        }
    }

    /// [`SelectorIndex::candidates`] in ascending order, for layers whose order matters.
    pub(crate) fn candidates_in_order(&self, labels: &BTreeMap<String, String>) -> Vec<usize> {
        let mut out: Vec<usize> = self.candidates(labels).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Items that may match `labels` (a superset of those that do), each once, in no order.
    pub(crate) fn candidates<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = usize> + 'a {
        self.unkeyed.iter().copied().chain(
            labels.iter().filter_map(|(k, v)| self.keyed.get(k.as_str())?.get(v.as_str())).flatten().copied(),
        )
    }
}
