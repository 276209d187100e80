//! The modules form layers, and a module imports only from layers below it (README, Layout).
//! A `crate::` path that reaches up or sideways fails here, naming the file.

/// Bottom first; modules on one line are one layer and do not import each other.
const LAYERS: &[&[&str]] = &[
    &["sorted", "parallel", "yaml"],
    &["vocab"],
    &["error"],
    &["input", "diag"],
    &["templates"],
    &["values"],
    &["wire"],
    &["intent"],
    &["engine"],
    &["emit", "eval"],
    &["render"],
    &["review", "lint"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The library source files, without test-only code (`*_tests.rs`, `tests.rs`, `testing.rs`,
/// and the `mod tests` at the end of a file).
fn library_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if path.is_dir() {
            library_files(&path, out);
        } else if name.ends_with(".rs")
            && !name.ends_with("_tests.rs")
            && name != "tests.rs"
            && name != "testing.rs"
            && name != "main.rs"
        {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_from_the_layers_below_it() {
    let root = std::path::Path::new("src");
    let mut files = Vec::new();
    library_files(root, &mut files);
    files.sort();
    assert!(files.len() > 40, "found the sources: {}", files.len());
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root).expect("under src");
        let module = relative.components().next().and_then(|c| c.as_os_str().to_str()).unwrap_or_default();
        let module = module.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let from = layer_of(module).unwrap_or_else(|| panic!("{module} ({}) is in no layer", file.display()));
        let text = std::fs::read_to_string(file).expect("readable");
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let target: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if target == module || target.is_empty() {
                continue;
            }
            let to = layer_of(&target)
                .unwrap_or_else(|| panic!("{target} (used in {}) is in no layer", file.display()));
            if to >= from {
                upward.push(format!("{} imports crate::{target}", file.display()));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "imports that do not go down a layer:\n{}", upward.join("\n"));
}
