//! `daas-node`: one real worker node as a process (containerd, runc, CNI,
//! kubelet), the stand-in for `k3s agent`; the same command as
//! `daas-local node` (see `daas_local::node_cmd`), kept under this name for
//! the tests that run it as the agent's node runtime.

use clap::Parser as _;
use daas_local::node_cmd::{self, NodeArgs};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    node_cmd::main(NodeArgs::parse()).await
}
