//! Process plumbing shared by Seatflow's binaries: logging and metrics set-up with the names of
//! every metric, the shutdown signal, and the command lines' error type.

pub mod cli;
pub mod shutdown;
pub mod telemetry;
