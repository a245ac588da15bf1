//! A test-only crash hook: with `DAAS_AGENT_TEST_CRASH_AFTER=<step>` the
//! agent exits at once (status [`CRASH_EXIT`], no clean-up, its runtime
//! left running) right after `<step>` is persisted, as kill -9 would leave
//! it. The crash-recovery tests restart it and check that the flow
//! completes with no second stake and the same node.
//!
//! Steps: `stake-recorded`, `staked`, `registered`, `runtime-started`,
//! `drained`, `unstake-requested`, `runtime-stopped`.

/// The variable naming the step to crash after.
pub const CRASH_AFTER_VAR: &str = "DAAS_AGENT_TEST_CRASH_AFTER";
/// The exit status of a test crash (as a process killed by SIGKILL).
pub const CRASH_EXIT: i32 = 137;

/// Exits at once if the test hook names `step`.
pub fn point(step: &str) {
    if std::env::var(CRASH_AFTER_VAR).is_ok_and(|wanted| wanted == step) {
        eprintln!("daas-agent: TEST CRASH after step {step} ({CRASH_AFTER_VAR})");
        std::process::exit(CRASH_EXIT);
    }
}
