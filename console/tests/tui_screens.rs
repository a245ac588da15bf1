//! Every screen drawn on ratatui's `TestBackend` from given data, compared
//! with its snapshot (`tests/snapshots/`): loading, error, empty, full and
//! 5,000-node states, the INSECURE banner, read-only help, and themes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use daas_console::tui::action::{Action, Screen};
use support::fixtures::{self, NOW_MS};

const WIDTH: u16 = 140;
const HEIGHT: u16 = 40;

fn screen_with(
    events: Vec<daas_console::tui::data::DataEvent>,
    screen: Screen,
    readonly: bool,
) -> daas_console::tui::app::App {
    let mut app = fixtures::app(fixtures::settings(readonly));
    for event in events {
        app.on_data(event);
    }
    app.apply(Action::Goto(screen));
    app
}

fn snapshot(name: &str, app: &mut daas_console::tui::app::App) {
    let text = fixtures::render(app, WIDTH, HEIGHT);
    insta::assert_snapshot!(name, text);
}

#[test]
fn every_screen_in_every_state() {
    for (screen, name) in Screen::ALL {
        for (state, events) in [
            ("loading", Vec::new()),
            ("error", fixtures::errors()),
            ("empty", fixtures::empty()),
            ("full", fixtures::full(12, false)),
        ] {
            let mut app = screen_with(events, screen, false);
            snapshot(&format!("{name}-{state}"), &mut app);
        }
    }
}

#[test]
fn five_thousand_nodes() {
    let mut app = screen_with(fixtures::full(5000, false), Screen::Nodes, false);
    snapshot("nodes-5000", &mut app);
    // The last page, after G.
    app.on_key(
        &KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT),
        NOW_MS,
    );
    snapshot("nodes-5000-bottom", &mut app);
    // Filtered: / then text.
    app.on_key(
        &KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE),
        NOW_MS,
    );
    for c in "worker-0499".chars() {
        app.on_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE), NOW_MS);
    }
    snapshot("nodes-5000-filtered", &mut app);
    let mut overview = screen_with(fixtures::full(5000, false), Screen::Overview, false);
    snapshot("overview-5000", &mut overview);
}

#[test]
fn development_attestation_is_insecure_on_every_screen() {
    for (screen, name) in Screen::ALL {
        let mut app = screen_with(fixtures::full(3, true), screen, false);
        let text = fixtures::render(&mut app, WIDTH, HEIGHT);
        assert!(
            text.contains("INSECURE DEVELOPMENT ATTESTATION"),
            "{name}:\n{text}"
        );
    }
    let mut app = screen_with(fixtures::full(3, true), Screen::Attestation, false);
    snapshot("attestation-insecure", &mut app);
}

#[tokio::test]
async fn node_detail_shows_the_agent_s_live_metrics_or_why_not() {
    use daas_console::ops::nodes::AgentMetricsView;
    use daas_console::tui::tasks::TaskEvent;
    use daas_core::api::nodes::{AgentEndpoint, NodeMetrics};

    let mut app = screen_with(fixtures::full(12, false), Screen::Nodes, false);
    // Opening the detail asks the agent (in the background, unanswered here).
    app.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), NOW_MS);
    snapshot("node-detail-asking", &mut app);
    app.on_task(TaskEvent::Agent(Ok(AgentMetricsView {
        node: "worker-00000".to_owned(),
        agent_api: AgentEndpoint {
            url: "https://10.0.0.0:8443".to_owned(),
            tls_spki_sha256: "ab".repeat(32),
        },
        metrics: NodeMetrics {
            cpu_usage: 45.2,
            memory_usage: 67.8,
            pod_count: 25,
            container_count: 48,
            network_rx: 1_024_000,
            network_tx: 512_000,
            timestamp: NOW_MS / 1000,
        },
    })));
    snapshot("node-detail", &mut app);
    app.on_task(TaskEvent::Agent(Err(
        "the agent at https://10.0.0.0:8443/api/v1/metrics presented TLS key 00…, not the key ab… reported for it; refusing to talk to it".to_owned(),
    )));
    snapshot("node-detail-refused", &mut app);
}

#[test]
fn read_only_sessions_hide_mutating_keys() {
    let mut app = screen_with(fixtures::full(12, false), Screen::Nodes, true);
    app.apply(Action::Help);
    snapshot("nodes-help-readonly", &mut app);
    let mut writable = screen_with(fixtures::full(12, false), Screen::Nodes, false);
    writable.apply(Action::Help);
    snapshot("nodes-help", &mut writable);
}

#[test]
fn the_drain_dialog_has_k9s_options() {
    let mut app = screen_with(fixtures::full(12, false), Screen::Nodes, false);
    app.on_key(
        &KeyEvent::new(KeyCode::Char('d'), KeyModifiers::NONE),
        NOW_MS,
    );
    snapshot("nodes-drain-dialog", &mut app);
}

#[test]
fn the_palette_completes() {
    let mut app = screen_with(fixtures::full(3, false), Screen::Overview, false);
    for key in [
        KeyCode::Char(':'),
        KeyCode::Char('a'),
        KeyCode::Char('t'),
        KeyCode::Tab,
    ] {
        app.on_key(&KeyEvent::new(key, KeyModifiers::NONE), NOW_MS);
    }
    snapshot("palette-completed", &mut app);
    app.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), NOW_MS);
    assert_eq!(app.screen(), Screen::Attestation);
}

#[test]
fn themes_colour_the_same_screen() {
    for theme in ["light", "high-contrast"] {
        let mut settings = fixtures::settings(false);
        settings.theme = theme.to_owned();
        let mut app = fixtures::app(settings);
        for event in fixtures::full(5, false) {
            app.on_data(event);
        }
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(WIDTH, HEIGHT)).unwrap();
        terminal.draw(|frame| app.draw(frame, NOW_MS)).unwrap();
        // The colours differ from the dark theme's; the text does not.
        let cell = terminal.backend().buffer()[(1, 0)].clone();
        insta::assert_debug_snapshot!(format!("theme-{theme}-title-cell"), (cell.fg, cell.bg));
    }
    let mut settings = fixtures::settings(false);
    settings.theme = "/nonexistent/theme.toml".to_owned();
    let mut app = fixtures::app(settings);
    let text = fixtures::render(&mut app, WIDTH, HEIGHT);
    assert!(text.contains("using the dark theme"), "{text}");
}

#[test]
fn a_long_reason_a_source_is_unavailable_is_wrapped_not_cut() {
    let why = "0x1111111111111111111111111111111111111111111111111111111111111111 has no \
               active user seal token: stake first (`daas-console stake --tier viewer`) or \
               name one with --seal-token";
    let events = vec![daas_console::tui::data::DataEvent::Audit(Err(
        why.to_owned()
    ))];
    let mut app = screen_with(events, Screen::Audit, false);
    let text = fixtures::render(&mut app, WIDTH, HEIGHT);
    assert!(text.contains("name one with --seal-token"), "{text}");
}

#[test]
fn the_tiers_prices_show_before_any_key_exists() {
    use daas_console::tui::data::DataEvent;
    use daas_core::package::staking::PoolParams;
    let events = vec![
        DataEvent::Stake(Err("no wallet key yet".to_owned())),
        DataEvent::Pool(PoolParams::default()),
    ];
    let mut app = screen_with(events, Screen::Stake, false);
    let text = fixtures::render(&mut app, WIDTH, HEIGHT);
    assert!(text.contains("no wallet key yet"), "{text}");
    assert!(text.contains("viewer     0.5 SUI"), "{text}");
}

#[test]
fn a_confirmation_is_as_wide_as_what_it_signs() {
    use daas_console::ops::stake::TokenAction;
    use daas_console::tui::action::Mutation;
    use daas_core::package::SealTokenId;
    let token = SealTokenId::new(sui_sdk_types::Address::new([0xab; 32]));
    let mut app = screen_with(fixtures::full(3, false), Screen::Stake, false);
    app.apply(Action::Ask(Mutation::Token(token, TokenAction::Unstake)));
    let text = fixtures::render(&mut app, WIDTH, HEIGHT);
    let call =
        format!("staking::request_unstake(token {token}): access ends now, the stake unbonds");
    assert!(text.lines().any(|line| line.contains(&call)), "{text}");
}
