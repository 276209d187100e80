//! Writing an output directory without ever losing a file netpol did not write.
//!
//! A directory netpol owns holds only files whose first line is netpol's header comment. Such a
//! directory is replaced as a whole: the new files are written to a hidden sibling, which is
//! exchanged with the directory in one atomic step (`renameat2(RENAME_EXCHANGE)` on Linux), so a
//! reader or a kill at any moment sees either the old or the new complete set. A directory that
//! holds anything else is refused, unless `--force`, which replaces netpol's own files one by one
//! (each atomically) and leaves every other file, and every hidden one, as it was.
//!
//! Writers to one directory take turns: each holds an exclusive lock on the parent directory
//! while it stages and swaps, and removes the staging copies that killed runs left behind.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Diagnostic, Error, Result};

/// The first line of every file netpol writes starts with this.
pub(crate) const HEADER_PREFIX: &str = "# Rendered by netpol";

/// What to do with a directory that holds files netpol did not write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Foreign {
    /// Refuse and change nothing.
    #[default]
    Refuse,
    /// Keep them: replace only netpol's own files (`--force`).
    Keep,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn refuse(message: String, help: &str) -> Error {
    Error::invalid(Diagnostic::new(message).with_help(help).coded(crate::error::Code::Input))
}

/// Replace netpol's files in `dir` with exactly `files` (name, content).
pub fn write(dir: &Path, files: &[(String, String)], foreign: Foreign) -> Result<()> {
    if dir.as_os_str().is_empty() {
        return Err(Error::Usage("--output-dir: the path is empty".into()));
    }
    let target = resolve(dir)?;
    let (parent, base) = match (target.parent(), target.file_name()) {
        (Some(parent), Some(base)) => (parent.to_path_buf(), base.to_os_string()),
        _ => {
            return Err(refuse(
                format!("--output-dir {}: cannot replace the root directory", dir.display()),
                "render into a subdirectory",
            ));
        }
    };
    if let Ok(cwd) = std::env::current_dir().and_then(fs::canonicalize)
        && cwd.starts_with(&target)
    {
        return Err(refuse(
            format!(
                "--output-dir {}: is the current directory (or holds it), which netpol cannot replace as a whole",
                dir.display()
            ),
            "render into a subdirectory, e.g. `--output-dir policies`",
        ));
    }
    fs::create_dir_all(&parent).map_err(io_error(&parent))?;
    let _lock = lock(&parent)?;
    remove_stale_staging(&parent, &base);

    let existing = match fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => Some(meta),
        Ok(_) => {
            return Err(refuse(
                format!("--output-dir {}: exists and is not a directory; nothing was changed", dir.display()),
                "name a directory, or a path that does not exist yet",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(&target)(e)),
    };
    let Some(meta) = existing else {
        return stage_and_swap(&parent, &base, &target, files, None);
    };
    if meta.permissions().readonly() {
        return Err(refuse(
            format!("--output-dir {}: the directory is read-only; nothing was changed", dir.display()),
            "make it writable (chmod u+w) or render elsewhere",
        ));
    }
    let contents = survey(&target)?;
    match (contents.foreign.first(), foreign) {
        (None, _) => stage_and_swap(&parent, &base, &target, files, Some(meta.permissions())),
        (Some(name), Foreign::Refuse) => Err(refuse(
            format!(
                "--output-dir {}: holds `{}`, which netpol did not write; nothing was changed",
                dir.display(),
                name.to_string_lossy()
            ),
            "render into an empty or new directory, or pass --force to replace only netpol's own files and keep everything else",
        )),
        (Some(_), Foreign::Keep) => replace_in_place(&target, files, &contents.own),
    }
}

/// The directory the output goes to: a symlink is followed (the link itself stays), a relative
/// path is made absolute so that its parent is known.
fn resolve(dir: &Path) -> Result<PathBuf> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(dir).map_err(io_error(dir)),
        _ => {
            let absolute = std::path::absolute(dir).map_err(io_error(dir))?;
            // `a/..` and `a/.` have no file name of their own; resolve them through the parent.
            match absolute.file_name() {
                Some(_) if !dir.ends_with(".") && !dir.ends_with("..") => Ok(absolute),
                _ => fs::canonicalize(&absolute).map_err(io_error(dir)),
            }
        }
    }
}

/// An exclusive lock on `parent`, held until dropped: renders into one directory take turns.
fn lock(parent: &Path) -> Result<fs::File> {
    let handle = fs::File::open(parent).map_err(io_error(parent))?;
    handle.lock().map_err(io_error(parent))?;
    Ok(handle)
}

fn staging_prefixes(base: &OsStr) -> [String; 2] {
    let base = base.to_string_lossy();
    [format!(".{base}.netpol-new-"), format!(".{base}.netpol-old-")]
}

/// Staging copies of this output directory that killed runs left behind. Only names netpol
/// itself makes are touched; the lock guarantees no live writer is using them.
fn remove_stale_staging(parent: &Path, base: &OsStr) {
    let prefixes = staging_prefixes(base);
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_staging = prefixes.iter().any(|p| {
            name.strip_prefix(p.as_str())
                .map(|pid| pid.strip_suffix(".swap").unwrap_or(pid))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        if is_staging && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

struct Survey {
    /// Files netpol wrote, by name.
    own: Vec<std::ffi::OsString>,
    /// Everything else, sorted by name (hidden entries included).
    foreign: Vec<std::ffi::OsString>,
}

fn survey(dir: &Path) -> Result<Survey> {
    let mut own = Vec::new();
    let mut foreign = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !hidden && is_file && written_by_netpol(&entry.path()) {
            own.push(name);
        } else {
            foreign.push(name);
        }
    }
    own.sort();
    foreign.sort();
    Ok(Survey { own, foreign })
}

fn written_by_netpol(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; HEADER_PREFIX.len()];
    fs::File::open(path).and_then(|mut f| f.read_exact(&mut start)).is_ok()
        && start == HEADER_PREFIX.as_bytes()
}

fn write_file(path: &Path, content: &str) -> Result<()> {
    let mut file = fs::File::create(path).map_err(io_error(path))?;
    file.write_all(content.as_bytes()).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Write `files` into a hidden sibling of `target` and exchange the two in one step.
fn stage_and_swap(
    parent: &Path,
    base: &OsStr,
    target: &Path,
    files: &[(String, String)],
    permissions: Option<fs::Permissions>,
) -> Result<()> {
    let [new_prefix, _] = staging_prefixes(base);
    let staging = parent.join(format!("{new_prefix}{}", std::process::id()));
    let staged = (|| {
        fs::create_dir(&staging).map_err(io_error(&staging))?;
        for (name, content) in files {
            write_file(&staging.join(name), content)?;
        }
        if let Some(permissions) = permissions {
            fs::set_permissions(&staging, permissions).map_err(io_error(&staging))?;
        }
        Ok(())
    })();
    if let Err(e) = staged {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    let swapped = if target.exists() {
        exchange(&staging, target).map_err(io_error(target))
    } else {
        fs::rename(&staging, target).map_err(io_error(target))
    };
    // After an exchange the old content sits at the staging path; after a failure, the new.
    let _ = fs::remove_dir_all(&staging);
    swapped
}

/// Swap two directories atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let status = unsafe {
        libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE)
    };
    if status == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Elsewhere there is no atomic exchange: the old directory is moved aside and the new one put
/// in its place by two renames; a kill between them leaves the old set in the hidden sibling,
/// which the next run removes.
#[cfg(not(target_os = "linux"))]
fn exchange(staging: &Path, target: &Path) -> std::io::Result<()> {
    let aside = staging.with_extension("swap");
    fs::rename(target, &aside)?;
    if let Err(e) = fs::rename(staging, target) {
        let _ = fs::rename(&aside, target);
        return Err(e);
    }
    fs::rename(&aside, staging)
}

/// `--force` in a directory with other files: each of netpol's files is replaced atomically
/// (written beside it, then renamed over it), netpol's files that the new render no longer has
/// are removed, and nothing else is touched.
fn replace_in_place(dir: &Path, files: &[(String, String)], own: &[std::ffi::OsString]) -> Result<()> {
    for (name, content) in files {
        let temporary = dir.join(format!(".{name}.netpol-tmp-{}", std::process::id()));
        let written = write_file(&temporary, content)
            .and_then(|()| fs::rename(&temporary, dir.join(name)).map_err(io_error(dir)));
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(e);
        }
    }
    for stale in own {
        if !files.iter().any(|(name, _)| OsStr::new(name) == stale) {
            let path = dir.join(stale);
            fs::remove_file(&path).map_err(io_error(&path))?;
        }
    }
    Ok(())
}
