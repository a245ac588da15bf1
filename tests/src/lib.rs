//! End-to-end test harness of K3s-DaaS: real control-plane, kwok, devnet and
//! master processes, started and cleaned up for the tests in `tests/tests/`.

pub mod binaries;
pub mod devnet;
pub mod k3s;
pub mod kwok;
pub mod stack;
mod supervisor;
pub mod user;
pub mod webhook;
