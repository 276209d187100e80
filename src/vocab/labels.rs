//! Kubernetes label selectors: one type for what values say, what the intent renders and what
//! manifests hold, with one matcher.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A Kubernetes label selector, normalised: maps sorted, expression values sorted and deduplicated.
///
/// It serialises in the Kubernetes shape (empty parts left out), as every engine but
/// Kubernetes' own typed output writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(skip_serializing_if = "crate::sorted::SortedMap::is_empty")]
    pub match_labels: crate::sorted::SortedMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelExpression>,
}

impl LabelSelector {
    /// A selector that matches everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    pub(crate) fn from_labels<K: Into<String>, V: Into<String>>(
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        LabelSelector {
            match_labels: labels.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            match_expressions: Vec::new(),
        }
    }

    /// Whether the selector matches a label set (`get` looks a key up, so callers can add
    /// implicit labels such as Cilium's namespace label).
    pub(crate) fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.match_labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|x| {
                let value = get(&x.key);
                match x.operator {
                    LabelOperator::In => value.is_some_and(|v| x.values.iter().any(|x| x == v)),
                    LabelOperator::NotIn => value.is_none_or(|v| !x.values.iter().any(|x| x == v)),
                    LabelOperator::Exists => value.is_some(),
                    LabelOperator::DoesNotExist => value.is_none(),
                }
            })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// The selector of one namespace by name.
    pub(crate) fn namespace_named(name: &str) -> Self {
        Self::from_labels([(NAMESPACE_NAME_LABEL, name)])
    }
}

/// The label the API server sets on every namespace to its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LabelExpression {
    pub key: String,
    pub operator: LabelOperator,
    /// Sorted and deduplicated; empty for Exists / DoesNotExist.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
pub enum LabelOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelOperator {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelOperator::In => "In",
            LabelOperator::NotIn => "NotIn",
            LabelOperator::Exists => "Exists",
            LabelOperator::DoesNotExist => "DoesNotExist",
        }
    }
}

/// A `metav1.LabelSelector` as manifests hold it. `null` and a missing list or map are empty;
/// an operator the API server does not know is an error, not a selector that matches nothing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestSelector {
    #[serde(default, deserialize_with = "null_is_default")]
    match_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_is_default")]
    match_expressions: Vec<ManifestRequirement>,
}

#[derive(Deserialize)]
struct ManifestRequirement {
    key: String,
    operator: LabelOperator,
    #[serde(default, deserialize_with = "null_is_default")]
    values: Vec<String>,
}

fn null_is_default<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl<'de> Deserialize<'de> for LabelSelector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = ManifestSelector::deserialize(d)?;
        Ok(LabelSelector {
            match_labels: raw.match_labels.into_iter().collect(),
            match_expressions: raw
                .match_expressions
                .into_iter()
                .map(|r| {
                    let mut values = r.values;
                    values.sort_unstable();
                    values.dedup();
                    LabelExpression { key: r.key, operator: r.operator, values }
                })
                .collect(),
        })
    }
}

/// As people write selectors in prose: `app=web, tier in (a, b), canary exists`; an empty
/// selector is `every pod`.
impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("any labels");
        }
        let mut parts: Vec<String> = self.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.extend(self.match_expressions.iter().map(|e| match e.operator {
            LabelOperator::In => format!("{} in ({})", e.key, e.values.join(", ")),
            LabelOperator::NotIn => format!("{} not in ({})", e.key, e.values.join(", ")),
            LabelOperator::Exists => format!("{} exists", e.key),
            LabelOperator::DoesNotExist => format!("{} does not exist", e.key),
        }));
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: serde_json::Value) -> Result<LabelSelector, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn a_manifest_selector_reads_null_as_empty_and_normalises_values() {
        let s = read(serde_json::json!({"matchLabels": null, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a", "b"]},
            {"key": "debug", "operator": "DoesNotExist", "values": null}
        ]}))
        .expect("reads");
        assert!(s.match_labels.is_empty());
        assert_eq!(s.match_expressions[0].values, ["a", "b"]);
        let labels = BTreeMap::from([("tier".to_string(), "a".to_string())]);
        assert!(s.matches(&labels));
        let debug = BTreeMap::from([("tier".to_string(), "a".to_string()), ("debug".into(), "1".into())]);
        assert!(!s.matches(&debug));
    }

    #[test]
    fn an_operator_the_api_server_does_not_know_is_an_error() {
        let err = read(serde_json::json!({"matchExpressions": [{"key": "a", "operator": "in"}]}))
            .expect_err("lower-case operator");
        assert!(err.to_string().contains("unknown variant `in`"), "{err}");
    }

    #[test]
    fn it_serialises_in_the_kubernetes_shape_without_empty_parts() {
        let mut s = LabelSelector::from_labels([("app", "web")]);
        s.match_expressions.push(LabelExpression {
            key: "tier".into(),
            operator: LabelOperator::Exists,
            values: Vec::new(),
        });
        assert_eq!(
            serde_json::to_value(&s).expect("serialises"),
            serde_json::json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]})
        );
        assert_eq!(
            serde_json::to_value(LabelSelector::default()).expect("serialises"),
            serde_json::json!({})
        );
    }
}
