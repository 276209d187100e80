//! The values format: parsing with locations, Helm-style merging, `--set`, typed values.
pub mod de;
pub mod merge;
pub mod node;
pub mod set;
