//! The parts promlet serves besides the node collectors (HDHomeRun exporter, HTTP SD, Packet
//! SD as http_sd, merging proxy). Each part declares its flags and, when its flags enable it,
//! gives routes and its own metrics for `/metrics`. This table is the only place that knows
//! which parts are built in.

use std::sync::Arc;

use crate::expfmt::Encoder;
use crate::flags::{Flags, Spec};
use crate::httpd::Route;

/// A running part.
pub trait Part: Send + Sync {
    /// Routes served in addition to `/metrics`.
    fn routes(&self) -> Vec<Route>;
    /// The part's own metrics, appended to `/metrics`.
    fn write_metrics(&self, _enc: &mut Encoder) {}
    /// Called once every route of every part is known, before serving (push mode gathers
    /// through them). An `Err` stops promlet at start.
    fn start(&self, _routes: &[Route]) -> Result<(), String> {
        Ok(())
    }
    /// Called when promlet stops cleanly (SIGTERM, SIGINT): finish what must be finished
    /// before `deadline` (push mode delivers its last batches).
    fn stop(&self, _deadline: std::time::Instant) {}
    /// SIGHUP, for a part that is not started again (`reloads: false`) but re-reads its
    /// settings in place (push mode, which keeps its queues): checks them and returns what
    /// applies them, run only once every part's reload has succeeded. An `Err` keeps the old.
    fn reload(&self, _flags: &Flags) -> Result<Option<Commit>, String> {
        Ok(None)
    }
}

/// Applies a checked reload ([`Part::reload`]).
pub type Commit = Box<dyn FnOnce() + Send>;

/// Starts a part if its flags ask for it.
pub type InitFn = fn(&Flags) -> Result<Option<Arc<dyn Part>>, String>;

/// One row of the table.
pub struct Entry {
    pub name: &'static str,
    /// Flags the part adds to `promlet` (serve).
    pub flags: fn() -> Vec<Spec>,
    /// Starts the part if its flags ask for it (`Ok(None)`: not enabled). An `Err` stops
    /// promlet at start with that message.
    pub init: InitFn,
    /// Started again on SIGHUP (it reads files: `--config.file`, the HTTP SD tree); the
    /// others keep running as they are.
    pub reloads: bool,
}

/// Every part compiled into this binary.
// Pushed one by one because each row has its own cfg.
#[allow(clippy::vec_init_then_push)]
pub fn entries() -> Vec<Entry> {
    #[allow(unused_mut)]
    let mut v: Vec<Entry> = Vec::new();
    #[cfg(feature = "hdhomerun")]
    v.push(crate::hdhomerun::PART);
    #[cfg(feature = "http-sd")]
    v.push(crate::sd::http::PART);
    #[cfg(feature = "packet-sd")]
    v.push(crate::sd::packet::PART);
    #[cfg(feature = "proxy")]
    v.push(crate::proxy::PART);
    #[cfg(feature = "push")]
    v.push(crate::push::PART);
    v
}
