//! OceanQL's cross-crate tests live in `tests/` (one binary, `tests/main.rs`); see README.md.
