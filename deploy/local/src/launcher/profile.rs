//! The console profile of a local stack, and what the launcher tells its
//! user once the stack is up.

use std::fmt::Write as _;
use std::path::Path;

use daas_core::package::SealTokenId;
use sui_sdk_types::Address;

use crate::launcher::layout::{Layout, Ports};

/// The console's profile name for the local stack (its built-in default).
pub const PROFILE: &str = "local";

/// What the profile points at.
#[derive(Debug)]
pub struct StackView<'a> {
    /// The state directory's layout.
    pub layout: &'a Layout,
    /// The ports.
    pub ports: Ports,
    /// The master's PCR 0–2 (hex).
    pub pcrs: &'a [String; 3],
    /// The `EnclaveConfig` with those PCRs.
    pub enclave_config: Address,
    /// The operator's address.
    pub operator: Address,
    /// The operator's super-tier user seal token.
    pub operator_token: SealTokenId,
    /// The real worker's node name.
    pub node: &'a str,
    /// The image the real worker holds (it reaches no registry).
    pub node_image: &'a str,
    /// Simulated agents.
    pub simulated: usize,
    /// The `daas-console` executable.
    pub console: &'a Path,
    /// The `daas-local` executable.
    pub launcher: &'a Path,
}

impl StackView<'_> {
    /// The devnet's URL.
    pub fn chain_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.devnet_port)
    }

    /// The master's URL.
    pub fn master_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.master_port)
    }

    /// `console.toml` with the stack's profile, as the default one.
    pub fn console_toml(&self) -> String {
        let layout = self.layout;
        format!(
            "# Written by daas-local up for the stack in {root}; rewritten by every up.\n\
             default_profile = \"{PROFILE}\"\n\n\
             [profiles.{PROFILE}]\n\
             master = \"{master}\"\n\
             faucet = \"{chain}\"\n\
             # INSECURE development attestation: this master has no hardware guarantee.\n\
             dev_root = {dev_root:?}\n\
             kubeconfig = {kubeconfig:?}\n\
             key = \"operator\"\n\
             wallet_dir = {wallet:?}\n\
             passphrase_file = {passphrase:?}\n\n\
             [profiles.{PROFILE}.chain]\n\
             profile = \"devnet\"\n\
             endpoint = \"{chain}\"\n\
             enclave_config = \"{config}\"\n\n\
             [profiles.{PROFILE}.pcrs]\n\
             0 = \"{p0}\"\n1 = \"{p1}\"\n2 = \"{p2}\"\n",
            root = layout.root().display(),
            master = self.master_url(),
            chain = self.chain_url(),
            dev_root = layout.dev_root().display().to_string(),
            kubeconfig = layout
                .cluster_dir()
                .join("admin.kubeconfig")
                .display()
                .to_string(),
            wallet = layout.operator_dir().join("wallet").display().to_string(),
            passphrase = layout
                .operator_dir()
                .join("passphrase")
                .display()
                .to_string(),
            config = self.enclave_config,
            p0 = self.pcrs[0],
            p1 = self.pcrs[1],
            p2 = self.pcrs[2],
        )
    }

    /// The environment variable that makes `daas-console` use this
    /// stack's profile, whose `wallet_dir` and `passphrase_file` name the
    /// operator's wallet (the CLI and the TUI both unlock with it).
    pub fn console_env(&self) -> (&'static str, String) {
        (
            "DAAS_CONSOLE_CONFIG",
            self.layout.console_config().display().to_string(),
        )
    }

    /// What to do next, printed once the stack is up.
    pub fn next_steps(&self) -> String {
        let layout = self.layout;
        let mut text = String::new();
        let _ = writeln!(
            text,
            "K3s-DaaS local stack is up (dev attestation: INSECURE, for development only)"
        );
        let rows = [
            ("chain (devnet)", self.chain_url()),
            ("faucet", format!("{}/v2/gas", self.chain_url())),
            ("master (attested)", self.master_url()),
            (
                "API server",
                format!("https://127.0.0.1:{}", self.ports.apiserver_port),
            ),
            (
                "operator wallet",
                format!(
                    "{} (AdminCap, EnclaveCap, SlasherCap; super tier: seal token {})",
                    self.operator, self.operator_token
                ),
            ),
            ("EnclaveConfig", self.enclave_config.to_string()),
            (
                "nodes",
                format!(
                    "{} (real kubelet) + {} simulated",
                    self.node, self.simulated
                ),
            ),
            (
                "node image",
                format!(
                    "{} (on {}, which reaches no registry)",
                    self.node_image, self.node
                ),
            ),
            (
                "console profile",
                layout.console_config().display().to_string(),
            ),
            (
                "cluster CA",
                layout
                    .cluster_dir()
                    .join("tls/ca.crt")
                    .display()
                    .to_string(),
            ),
            (
                "admin kubeconfig",
                layout
                    .cluster_dir()
                    .join("admin.kubeconfig")
                    .display()
                    .to_string(),
            ),
            ("master dev root", layout.dev_root().display().to_string()),
            (
                "logs",
                format!(
                    "{} and {}",
                    layout.run_dir().join("logs").display(),
                    layout.cluster_dir().join("logs").display()
                ),
            ),
        ];
        for (what, value) in rows {
            let _ = writeln!(text, "  {what:<18} {value}");
        }
        let _ = writeln!(text, "\nNext steps (another terminal):");
        let (name, value) = self.console_env();
        let _ = writeln!(
            text,
            "  export {name}={value}  # profile {PROFILE}: this stack, the operator's wallet"
        );
        let console = self.console.display();
        let _ = write!(
            text,
            "  {console} nodes list --stake  # the nodes, their health, owners and stake\n  \
             {console} attest        # verify the master's (dev) attestation\n  \
             {console} stake --help  # stake as a user for kubectl access\n  \
             {console} kubeconfig --help  # then a kubeconfig with the credential plugin\n  \
             {launcher} --state-dir {root} status | down | reset\n",
            launcher = self.launcher.display(),
            root = layout.root().display()
        );
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_next_steps_need_only_the_profile_which_names_the_operators_wallet() {
        let layout = Layout::new("/srv/local".into());
        let pcrs = ["00".repeat(48), "11".repeat(48), "22".repeat(48)];
        let view = StackView {
            layout: &layout,
            ports: Ports {
                devnet_port: 9000,
                master_port: 8443,
                webhook_port: 9443,
                apiserver_port: 6443,
                agent_api_port: 8080,
            },
            pcrs: &pcrs,
            enclave_config: Address::TWO,
            operator: Address::ZERO,
            operator_token: SealTokenId::new(Address::ZERO),
            node: "local-worker",
            node_image: "localhost/k3s-daas/busybox:1.35.0",
            simulated: 3,
            console: Path::new("/bin/daas-console"),
            launcher: Path::new("/bin/daas-local"),
        };
        let steps = view.next_steps();
        assert!(
            steps.contains("export DAAS_CONSOLE_CONFIG=/srv/local/console.toml"),
            "{steps}"
        );
        assert!(!steps.contains("DAAS_WALLET"), "{steps}");
        assert!(
            steps.contains("node image         localhost/k3s-daas/busybox:1.35.0 (on local-worker"),
            "{steps}"
        );
        let profile: toml::Value = toml::from_str(&view.console_toml()).unwrap();
        let local = &profile["profiles"][PROFILE];
        assert_eq!(profile["default_profile"].as_str(), Some(PROFILE));
        assert_eq!(
            local["wallet_dir"].as_str(),
            Some("/srv/local/operator/wallet")
        );
        assert_eq!(
            local["passphrase_file"].as_str(),
            Some("/srv/local/operator/passphrase")
        );
    }
}
