//! A handle to the session, for functions that read other tables while a query runs
//! (`anomaly()` reads its climatology, `interp()` reads a grid).
//!
//! The function is registered in the session it reads from, so it cannot own the
//! session: it keeps a weak reference, attached once the context exists.

use std::fmt;
use std::sync::{Arc, OnceLock};

use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::common::exec_datafusion_err;
use datafusion::prelude::SessionContext;

type StateFn = Box<dyn Fn() -> Option<SessionState> + Send + Sync>;

/// Cheap to clone; every clone sees the session attached to any of them.
#[derive(Clone, Default)]
pub struct SessionHandle {
    state: Arc<OnceLock<StateFn>>,
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHandle").field("attached", &self.state.get().is_some()).finish()
    }
}

impl SessionHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Points the handle at `ctx` (weakly). Later calls are ignored.
    pub fn attach(&self, ctx: &SessionContext) {
        let weak = ctx.state_weak_ref();
        let _ = self.state.set(Box::new(move || weak.upgrade().map(|s| s.read().clone())));
    }

    /// A context over the current state of the session (its tables and functions);
    /// `function` names the caller in the error when the session is gone.
    pub fn context(&self, function: &str) -> Result<SessionContext> {
        let state = self.state.get().and_then(|f| f());
        state
            .map(SessionContext::new_with_state)
            .ok_or_else(|| exec_datafusion_err!("{function}(): the session it was registered in has ended"))
    }
}
