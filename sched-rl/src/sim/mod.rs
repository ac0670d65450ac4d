//! The host-side simulator, the SRPT oracle and the workload files (feature `sim`).
//!
//! Everything here may allocate; none of it runs in a policy's per-tick path.

pub mod blind;
pub mod builtin;
pub mod engine;
pub mod report;
pub mod srpt;
pub mod trace;
pub mod workload;

pub use blind::ObjectiveBlind;
pub use builtin::builtin_workloads;
pub use engine::{simulate, simulate_srpt};
pub use report::SimReport;
pub use srpt::SrptOracle;
pub use trace::{ParseError, parse_workload};
pub use workload::Workload;
