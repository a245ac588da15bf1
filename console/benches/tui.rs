//! The console at 5,000 nodes: one frame of the Nodes screen, one filter
//! keystroke (filter and sort 5,000 rows), and the real binary's start-up
//! to its first frame in a pseudo-terminal.
//!
//! `cargo bench -p daas-console --bench tui`; targets: frame ≤ 5 ms,
//! keystroke ≤ 5 ms, first frame ≤ 100 ms.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/fixtures.rs"]
mod fixtures;

use std::io::Read as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use daas_console::tui::action::{Action, Screen};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const NODES: usize = 5000;

fn nodes_app() -> daas_console::tui::app::App {
    let mut app = fixtures::app(fixtures::settings(false));
    for event in fixtures::full(NODES, false) {
        app.on_data(event);
    }
    app.apply(Action::Goto(Screen::Nodes));
    app
}

fn frame(c: &mut Criterion) {
    let mut app = nodes_app();
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("frame, Nodes screen, 5000 nodes, 200x60", |b| {
        b.iter(|| {
            terminal.draw(|f| app.draw(f, fixtures::NOW_MS)).unwrap();
        });
    });
}

fn keystroke(c: &mut Criterion) {
    let mut app = nodes_app();
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    app.on_key(&key(KeyCode::Char('/')), fixtures::NOW_MS);
    app.on_key(&key(KeyCode::Char('4')), fixtures::NOW_MS);
    // Each keystroke re-filters and re-sorts all 5,000 rows.
    c.bench_function("filter keystroke, 5000 nodes", |b| {
        let mut add = true;
        b.iter(|| {
            let code = if add {
                KeyCode::Char('9')
            } else {
                KeyCode::Backspace
            };
            add = !add;
            app.on_key(&key(code), fixtures::NOW_MS);
        });
    });
}

/// Starts the release binary in a pty (unreachable master and chain, an
/// empty home) and waits for its first frame's header.
fn first_frame(binary: &str, home: &std::path::Path) -> Duration {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 140,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut command = CommandBuilder::new(binary);
    command.args([
        "--master",
        "https://127.0.0.1:9",
        "--chain",
        "http://127.0.0.1:9",
    ]);
    command.env("HOME", home);
    command.env("XDG_CONFIG_HOME", home.join("config"));
    command.env("XDG_DATA_HOME", home.join("data"));
    command.env("XDG_CACHE_HOME", home.join("cache"));
    command.env("TERM", "xterm-256color");
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut writer = pair.master.take_writer().unwrap();
    let start = Instant::now();
    let mut child = pair.slave.spawn_command(command).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("gateway") {
                let _ = tx.send(Instant::now());
                break;
            }
        }
    });
    let shown = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no first frame within 10 s");
    let elapsed = shown - start;
    writer.write_all(b"q").unwrap();
    let _ = child.wait();
    elapsed
}

fn startup(c: &mut Criterion) {
    let binary = env!("CARGO_BIN_EXE_daas-console");
    let home = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("startup");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("real binary to first frame in a pty", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| first_frame(binary, home.path()))
                .sum()
        });
    });
    group.finish();
}

criterion_group!(benches, frame, keystroke, startup);
criterion_main!(benches);
