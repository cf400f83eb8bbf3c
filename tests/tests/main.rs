//! OceanQL's cross-crate tests, in one binary: sqllogictest files, cross-checks against
//! xarray, chunk-pruning metrics and bad inputs. See tests/README.md.

mod analytics;
mod colocate;
mod common;
mod crosscheck;
mod crossover;
mod errors;
mod footprint;
mod index;
mod interp;
mod pruning;
mod sample;
mod s3;
mod slt;
mod st;
