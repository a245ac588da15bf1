//! Fuzzes every configuration file the product reads: the master's
//! `nautilus-config.yaml`, the agent's `worker-config.yaml`, the console's
//! config with its profiles, a TUI theme, a key binding, a kubeconfig, and
//! an enclave image's measurements (`pcrs.json`, `nitro-cli` output).
//! The first byte picks the parser; a bad file must give an error, never a
//! panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    match selector % 7 {
        0 => {
            let _ = daas_master::config::MasterConfig::parse_file(path, text);
        }
        1 => {
            let _ = daas_agent::config::AgentConfig::parse(
                path,
                text,
                &daas_agent::config::Overrides::default(),
            );
        }
        2 => {
            let _ = daas_console::config::parse(
                path,
                text,
                &daas_console::config::Overrides::default(),
            );
        }
        3 => {
            let _ = daas_console::tui::theme::Theme::parse(text);
        }
        4 => {
            let _ = daas_console::tui::keys::Key::parse(text);
        }
        5 => {
            let _ = daas_core::access::kubeconfig::from_yaml(text);
        }
        _ => {
            let _ = daas_console::ops::enclave_config::ImagePcrs::from_json(text);
        }
    }
});
