//! Presets: values fragments embedded in the binary, selected per namespace with
//! `profile: NAME` and merged under what the user wrote there (Helm rules: the user wins key by
//! key).

use super::de::suggest;
use super::merge::merge;
use super::tree::{Node, Value, parse};
use crate::error::Diagnostic;
use crate::vocab::source::{KeyPath, Sources};

/// One embedded profile: its name and its file.
pub(crate) struct Profile {
    pub name: &'static str,
    text: &'static str,
}

macro_rules! profiles {
    ($($name:literal),* $(,)?) => {
        &[$(Profile { name: $name, text: include_str!(concat!("../../profiles/", $name, ".yaml")) }),*]
    };
}

/// Every profile, sorted by name.
pub(crate) const PROFILES: &[Profile] = profiles![
    "build-sandbox",
    "controller",
    "database",
    "external-api",
    "homelab",
    "platform",
    "standard-app",
    "tenant",
    "zero-trust",
];

impl Profile {
    pub fn find(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().find(|p| p.name == name)
    }

    /// The profile file: what it adds to a namespace, as values.
    pub fn text(&self) -> &'static str {
        self.text
    }

    /// The one-line `description:` of the profile file.
    pub fn description(&self) -> String {
        let mut sources = Sources::default();
        let id = sources.add(format!("profile:{}", self.name), self.text);
        parse(self.text, id, &sources)
            .ok()
            .and_then(|n| match n.get("description").map(|d| &d.value) {
                Some(Value::Str(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The profile's `namespace:` values, located in `profile:NAME`.
    fn namespace_values(&self, sources: &mut Sources) -> Result<Node, Diagnostic> {
        let id = sources.add(format!("profile:{}", self.name), self.text);
        let root = parse(self.text, id, sources)?;
        root.get("namespace")
            .cloned()
            .ok_or_else(|| Diagnostic::new(format!("profile {} has no `namespace:` block", self.name)))
    }
}

/// Replace every `namespaces.<ns>` that names a profile by the profile merged under it.
pub fn apply(root: &mut Node, sources: &mut Sources) -> Result<(), Diagnostic> {
    let Some(namespaces) = map_entry_mut(root, "namespaces") else { return Ok(()) };
    let Value::Map(entries) = &mut namespaces.value else { return Ok(()) };
    for (key, ns) in entries.iter_mut() {
        let Some(profile) = ns.get("profile") else { continue };
        let path = KeyPath::default().key("namespaces").key(&key.name).key("profile");
        let name = match &profile.value {
            Value::Str(s) => s.clone(),
            Value::Null => continue,
            _ => {
                return Err(Diagnostic::new(format!(
                    "a profile is named by a string, found {}",
                    profile.kind()
                ))
                .at(&sources.origin(profile.loc, &path)));
            }
        };
        let Some(found) = Profile::find(&name) else {
            let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
            return Err(Diagnostic::new(format!("unknown profile `{name}`"))
                .coded(crate::error::Code::UnknownName)
                .at(&sources.origin(profile.loc, &path))
                .with_help(format!("{}; `netpol profiles` lists them", suggest(&name, &names))));
        };
        let mut merged = found.namespace_values(sources)?;
        let user = std::mem::replace(ns, Node::new(Value::Null, ns.loc));
        merge(&mut merged, user);
        *ns = merged;
    }
    Ok(())
}

fn map_entry_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match &mut node.value {
        Value::Map(entries) => entries.iter_mut().find(|(k, _)| &*k.name == key).map(|(_, v)| v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_parses_and_has_a_description() {
        for p in PROFILES {
            assert!(!p.description().is_empty(), "{} has no description", p.name);
            let mut sources = Sources::default();
            p.namespace_values(&mut sources).unwrap_or_else(|e| panic!("{}: {}", p.name, e.message));
        }
        let mut names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        names.sort();
        assert_eq!(names, PROFILES.iter().map(|p| p.name).collect::<Vec<_>>(), "keep PROFILES sorted");
    }

    #[test]
    fn user_values_override_a_profile_key_by_key() {
        let mut sources = Sources::default();
        let text = "namespaces:\n  shop:\n    profile: zero-trust\n    defaultDeny: {egress: false}\n";
        let id = sources.add("v.yaml", text);
        let mut root = parse(text, id, &sources).expect("parses");
        apply(&mut root, &mut sources).expect("applies");
        let shop = root.get("namespaces").and_then(|n| n.get("shop")).expect("shop").to_json();
        assert_eq!(shop["defaultDeny"], serde_json::json!({"ingress": true, "egress": false}));
        assert_eq!(shop["allow"], serde_json::json!({"dns": true, "sameNamespace": true}));
    }

    #[test]
    fn unknown_profiles_get_a_suggestion() {
        let mut sources = Sources::default();
        let text = "namespaces:\n  shop:\n    profile: zero-trusted\n";
        let id = sources.add("v.yaml", text);
        let mut root = parse(text, id, &sources).expect("parses");
        let err = apply(&mut root, &mut sources).expect_err("unknown");
        assert_eq!(err.help.as_deref(), Some("did you mean `zero-trust`?; `netpol profiles` lists them"));
        assert_eq!(err.origin.map(|o| (o.line, o.path)), Some((3, "namespaces.shop.profile".to_string())));
    }
}
