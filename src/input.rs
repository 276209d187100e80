//! Reading input files and standard input: bounded in size, and with invalid UTF-8 reported at
//! the line and column of the first bad byte.

use std::io::Read;
use std::path::Path;

use crate::error::{Diagnostic, Error, Result};
use crate::vocab::Origin;

/// The whole text of `path`, or of standard input for `-`; `name` is how errors call it.
pub(crate) fn read_path(path: &Path) -> Result<String> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    read_bounded(file, &name)
}

/// Largest values file accepted (bytes); generous for generated inputs with 10,000 workloads.
pub(crate) const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Read at most [`MAX_INPUT_BYTES`] from `reader` (never the whole of `/dev/zero`), as UTF-8.
pub(crate) fn read_bounded(reader: impl Read, name: &str) -> Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io { path: name.into(), source })?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(Error::invalid(
            Diagnostic::new(format!("{name} is larger than the limit of {MAX_INPUT_BYTES} bytes"))
                .coded(crate::error::Code::Input)
                .at(&Origin { file: name.into(), ..Origin::default() }),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.as_bytes().get(..e.utf8_error().valid_up_to()).unwrap_or_default();
        // The valid prefix is UTF-8 by definition, so lines and character columns are exact.
        let before = std::str::from_utf8(valid).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Error::invalid(
            Diagnostic::new(format!("{name} is not valid UTF-8 (line {line}, column {column})"))
                .coded(crate::error::Code::Input)
                .at(&Origin {
                    file: name.into(),
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    column: u32::try_from(column).unwrap_or(u32::MAX),
                    path: String::new(),
                }),
        )
    })
}
