//! Memory of the console holding and drawing 5,000 nodes: the process's
//! peak resident set (VmHWM) after loading the data into the app and
//! drawing the Nodes and Overview screens, filtering and sorting.
//!
//! `cargo bench -p daas-console --bench memory`; target ≤ 50 MB.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/fixtures.rs"]
mod fixtures;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use daas_console::tui::action::{Action, Screen};

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let before = status_kb("VmRSS:");
    let mut app = fixtures::app(fixtures::settings(false));
    for event in fixtures::full(5000, false) {
        app.on_data(event);
    }
    for screen in [Screen::Overview, Screen::Nodes] {
        app.apply(Action::Goto(screen));
        fixtures::render(&mut app, 200, 60);
    }
    for code in [
        KeyCode::Char('o'),
        KeyCode::Char('/'),
        KeyCode::Char('7'),
        KeyCode::Enter,
    ] {
        app.on_key(&KeyEvent::new(code, KeyModifiers::NONE), fixtures::NOW_MS);
        fixtures::render(&mut app, 200, 60);
    }
    let peak = status_kb("VmHWM:");
    println!(
        "memory with 5000 nodes: peak RSS {:.1} MB (process start {:.1} MB)",
        peak as f64 / 1024.0,
        before as f64 / 1024.0
    );
}
