//! The enclave deployment's config template (`deploy/nautilus/nautilus-config.yaml`)
//! is one the master accepts: every key known, the chain named, TLS for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use daas_master::config::MasterConfig;

#[test]
fn the_enclave_config_template_loads_and_names_its_chain() {
    let template =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nautilus/nautilus-config.yaml");
    let config = MasterConfig::load(&template).expect("the template loads");
    config
        .chain_config()
        .expect("the template's chain is complete");
}
