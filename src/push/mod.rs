//! Push mode: promlet gathers what it serves and sends it with the Prometheus remote-write 1.0
//! protocol to a receiver (Prometheus with `--web.enable-remote-write-receiver`,
//! VictoriaMetrics, Mimir, Thanos Receive, ...), for boxes behind NAT that nothing can scrape.
//!
//! Pieces, each pure and tested on its own: [`wire`] (protobuf `WriteRequest` + snappy),
//! [`series`] (what a scrape of a path would store: target and external labels, synthetic
//! series, staleness markers), [`queue`] (the bounded outage buffer, oldest dropped first),
//! [`policy`] (retry, drop and backoff rules), [`spool`] (the optional on-disk queue, across
//! restarts).

pub mod config;
mod http;
mod part;
pub mod policy;
pub mod queue;
pub mod run;
pub mod series;
pub mod spool;
pub mod wire;

pub use part::PART;
