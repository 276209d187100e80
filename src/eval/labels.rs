//! Kubernetes label selectors as they appear in manifests, and their matching.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A `metav1.LabelSelector`: `matchLabels` and `matchExpressions` are ANDed; an empty selector
/// matches everything.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Match against labels looked up by `get` (so callers can add implicit labels).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.match_labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| {
                let value = get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
                    "NotIn" => value.is_none_or(|v| !r.values.iter().any(|x| x == v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    // The API server rejects other operators; an unknown one matches nothing.
                    _ => false,
                }
            })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }
}

/// Items (by index) keyed by one label their selector requires, so that finding the items whose
/// selector may match a pod costs one lookup per pod label instead of a test per item.
#[derive(Clone, Debug, Default)]
pub struct SelectorIndex {
    keyed: BTreeMap<String, BTreeMap<String, Vec<usize>>>,
    unkeyed: Vec<usize>,
}

impl SelectorIndex {
    /// File `item` under the first `matchLabels` pair of `selector` (every match has it), or
    /// with the items every label set may match.
    pub fn insert(&mut self, selector: &Selector, item: usize) {
        self.insert_under(selector.match_labels.iter().next().map(|(k, v)| (k.as_str(), v.as_str())), item);
    }

    /// File `item` under a label pair every label set it may match has, or with the items
    /// every label set may match (`None`).
    pub fn insert_under(&mut self, required: Option<(&str, &str)>, item: usize) {
        match required {
            Some((k, v)) => {
                self.keyed.entry(k.to_string()).or_default().entry(v.to_string()).or_default().push(item)
            }
            None => self.unkeyed.push(item),
        }
    }

    /// [`SelectorIndex::candidates`] in ascending order, for layers whose order matters.
    pub fn candidates_in_order(&self, labels: &BTreeMap<String, String>) -> Vec<usize> {
        let mut out: Vec<usize> = self.candidates(labels).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Items that may match `labels` (a superset of those that do), each once, in no order.
    pub fn candidates<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = usize> + 'a {
        self.unkeyed.iter().copied().chain(
            labels.iter().filter_map(|(k, v)| self.keyed.get(k.as_str())?.get(v.as_str())).flatten().copied(),
        )
    }
}
