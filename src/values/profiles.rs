//! Presets: values fragments embedded in the binary, selected per namespace with
//! `profile: NAME` and merged under what the user wrote there (Helm rules: the user wins key by
//! key).

use super::de::suggest;
use super::merge::merge;
use super::tree::{Node, Value, parse};
use crate::error::Diagnostic;
use crate::vocab::source::{KeyPath, Sources};

/// One profile: its name and its file, built in or read from a `--profiles-dir`.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    text: std::sync::Arc<str>,
    /// Where it comes from: `profile:NAME` for a built-in one, else its file's path.
    pub source: String,
    pub builtin: bool,
}

macro_rules! profiles {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../profiles/", $name, ".yaml")))),*]
    };
}

/// Every built-in profile (name, file), sorted by name.
const BUILTIN: &[(&str, &str)] = profiles![
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
    /// The profile file: what it adds to a namespace, as values.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The one-line `description:` of the profile file.
    pub fn description(&self) -> String {
        let mut sources = Sources::default();
        let id = sources.add(self.source.clone(), self.text.clone());
        parse(&self.text, id, &sources)
            .ok()
            .and_then(|n| match n.get("description").map(|d| &d.value) {
                Some(Value::Str(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The profile's `namespace:` values, located in its file.
    fn namespace_values(&self, sources: &mut Sources) -> Result<Node, Diagnostic> {
        let id = sources.id_for(&self.source, &self.text);
        let root = parse(&self.text, id, sources)?;
        root.get("namespace").cloned().ok_or_else(|| {
            let origin = sources.origin(root.loc, &KeyPath::default());
            Diagnostic::new(format!("profile {} has no `namespace:` block", self.name))
                .coded(crate::error::Code::MissingKey)
                .at(&origin)
                .with_help("a profile file holds `description:` and the values it adds under `namespace:`")
        })
    }
}

/// The profiles values may name: the built-in ones and those of `--profiles-dir`, by name.
#[derive(Clone, Debug)]
pub struct Catalogue {
    profiles: Vec<Profile>,
}

impl Catalogue {
    /// The built-in profiles only.
    pub fn builtin() -> Self {
        let profiles = BUILTIN
            .iter()
            .map(|(name, text)| Profile {
                name: name.to_string(),
                text: (*text).into(),
                source: format!("profile:{name}"),
                builtin: true,
            })
            .collect();
        Catalogue { profiles }
    }

    /// The built-in profiles and every `NAME.yaml` (or `.yml`) of `dirs`, named by its file.
    /// A file that is not a profile, a name that is not a DNS label, and a name a built-in
    /// or another file already has are errors located in the file.
    pub fn with_dirs(dirs: &[String], sources: &mut Sources) -> crate::error::Result<Self> {
        use crate::error::Error;
        let mut catalogue = Catalogue::builtin();
        let mut problems = Vec::new();
        for dir in dirs {
            let path = std::path::Path::new(dir);
            let entries =
                std::fs::read_dir(path).map_err(|source| Error::Io { path: path.into(), source })?;
            let mut files: Vec<std::path::PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            for file in files {
                let text = crate::input::read_path(&file)?;
                let source = file.display().to_string();
                let id = sources.add(source.clone(), text.as_str());
                let origin = sources.origin(super::source_start(id), &KeyPath::default());
                let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                if let Err(e) = super::checked::check_dns_label(&name) {
                    problems.push(
                        Diagnostic::new(format!("profile file name `{name}`: {e}"))
                            .at(&origin)
                            .with_help("a profile is named by its file name, which must be a DNS label"),
                    );
                    continue;
                }
                if let Some(other) = catalogue.find(&name) {
                    let what = if other.builtin {
                        "a built-in profile".to_string()
                    } else {
                        format!("the profile in {}", other.source)
                    };
                    problems.push(
                        Diagnostic::conflict(format!("profile `{name}` ({source}) has the name of {what}"))
                            .at(&origin)
                            .with_help("rename the file: a profile's name is its file name"),
                    );
                    continue;
                }
                let profile = Profile { name, text: text.into(), source, builtin: false };
                if let Err(d) = profile.namespace_values(sources) {
                    problems.push(d);
                    continue;
                }
                catalogue.profiles.push(profile);
            }
        }
        catalogue.profiles.sort_by(|a, b| a.name.cmp(&b.name));
        if problems.is_empty() { Ok(catalogue) } else { Err(Error::Invalid(problems)) }
    }

    pub fn find(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// Every profile, sorted by name.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    pub fn names(&self) -> Vec<&str> {
        self.profiles.iter().map(|p| p.name.as_str()).collect()
    }
}

/// Replace every `namespaces.<ns>` that names a profile by the profile merged under it.
pub fn apply(root: &mut Node, sources: &mut Sources, catalogue: &Catalogue) -> Result<(), Diagnostic> {
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
        let Some(found) = catalogue.find(&name) else {
            let names = catalogue.names();
            return Err(Diagnostic::new(format!("unknown profile `{name}`"))
                .coded(crate::error::Code::UnknownName)
                .at(&sources.origin(profile.loc, &path))
                .with_help(format!(
                    "{}; `netpol profiles` lists them (add your own with --profiles-dir)",
                    suggest(&name, &names)
                )));
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
        let catalogue = Catalogue::builtin();
        for p in catalogue.profiles() {
            assert!(!p.description().is_empty(), "{} has no description", p.name);
            let mut sources = Sources::default();
            p.namespace_values(&mut sources).unwrap_or_else(|e| panic!("{}: {}", p.name, e.message));
        }
        let mut names = catalogue.names();
        names.sort();
        assert_eq!(names, catalogue.names(), "keep BUILTIN sorted");
    }

    #[test]
    fn user_values_override_a_profile_key_by_key() {
        let mut sources = Sources::default();
        let text = "namespaces:\n  shop:\n    profile: zero-trust\n    defaultDeny: {egress: false}\n";
        let id = sources.add("v.yaml", text);
        let mut root = parse(text, id, &sources).expect("parses");
        apply(&mut root, &mut sources, &Catalogue::builtin()).expect("applies");
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
        let err = apply(&mut root, &mut sources, &Catalogue::builtin()).expect_err("unknown");
        assert_eq!(
            err.help.as_deref(),
            Some(
                "did you mean `zero-trust`?; `netpol profiles` lists them (add your own with --profiles-dir)"
            )
        );
        assert_eq!(err.origin.map(|o| (o.line, o.path)), Some((3, "namespaces.shop.profile".to_string())));
    }
}
