//! OceanQL engine: the session builder, the gridded table providers with
//! their pruning and pushdown, and the scan that reads only what a query needs.

pub mod session;

pub use session::create_context;
pub mod grid_scan;
pub mod grid_table;
pub mod window;
