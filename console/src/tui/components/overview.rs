//! Overview: master health and readiness, attestation, chain, wallet,
//! stake and tier, node counts by status, recent chain events.

use std::collections::BTreeMap;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Command, Component, View, block, load_state, short};
use crate::ops::stake::TokenState;
use crate::tui::action::Action;

/// The Overview screen.
#[derive(Debug, Default)]
pub struct Overview;

fn line<'a>(label: &'a str, value: String, style: Style, view: &View<'_>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<13}"), view.theme.header()),
        Span::styled(value, style),
    ])
}

impl Overview {
    fn master(view: &View<'_>) -> Vec<Line<'static>> {
        let theme = view.theme;
        let Some(settings) = &view.settings.master else {
            return vec![Line::styled(
                "no master configured (set `master` in the profile or pass --master)",
                theme.muted(),
            )];
        };
        let mut lines = vec![line("url", settings.url.clone(), theme.text(), view)];
        let attestation = &view.data.attestation;
        lines.push(match (&attestation.value, &attestation.error) {
            (_, Some(error)) => line(
                "attestation",
                format!("NOT ATTESTED: {error}"),
                theme.error(),
                view,
            ),
            (Some(a), None) if a.insecure_dev => line(
                "attestation",
                format!(
                    "INSECURE dev ({}), {}",
                    a.enclave_id,
                    pcr_word(a.pcrs_checked())
                ),
                theme.warning(),
                view,
            ),
            (Some(a), None) => line(
                "attestation",
                format!(
                    "attested {} ({}), {}",
                    a.tee_type,
                    a.enclave_id,
                    pcr_word(a.pcrs_checked())
                ),
                theme.ok(),
                view,
            ),
            (None, None) => line("attestation", "attesting…".to_owned(), theme.muted(), view),
        });
        let master = &view.data.master;
        match (&master.value, &master.error) {
            (_, Some(error)) => lines.push(line("health", error.clone(), theme.error(), view)),
            (Some(m), None) => {
                let ready = m.readiness.is_ready();
                lines.push(line(
                    "health",
                    format!(
                        "v{} {}",
                        m.version,
                        if ready { "ready" } else { "NOT READY" }
                    ),
                    if ready { theme.ok() } else { theme.warning() },
                    view,
                ));
                for (check, state) in &m.readiness.checks {
                    let style = if state == "ok" {
                        theme.ok()
                    } else {
                        theme.error()
                    };
                    lines.push(line("", format!("{check}: {state}"), style, view));
                }
            }
            (None, None) => lines.push(line("health", "loading…".to_owned(), theme.muted(), view)),
        }
        lines
    }

    fn chain(view: &View<'_>) -> Vec<Line<'static>> {
        let theme = view.theme;
        let chain = &view.data.chain;
        let mut lines = vec![line(
            "endpoint",
            view.settings.chain.endpoint().to_owned(),
            theme.text(),
            view,
        )];
        match (&chain.value, &chain.error) {
            (_, Some(error)) => lines.push(line(
                "state",
                format!("unreachable: {error}"),
                theme.error(),
                view,
            )),
            (Some(c), None) => {
                lines.push(line(
                    "checkpoint",
                    c.checkpoint.to_string(),
                    theme.ok(),
                    view,
                ));
                lines.push(line("clock", super::time(c.clock_ms), theme.text(), view));
            }
            (None, None) => {
                lines.push(line("state", "connecting…".to_owned(), theme.muted(), view))
            }
        }
        lines
    }

    fn wallet(view: &View<'_>) -> Vec<Line<'static>> {
        let theme = view.theme;
        if let Some(state) = load_state(&view.data.wallet, "wallet") {
            return vec![Line::styled(state, theme.muted())];
        }
        let Some(wallet) = &view.data.wallet.value else {
            return Vec::new();
        };
        let Some(address) = wallet.current else {
            return vec![Line::styled(
                "no key yet: create or import one on the Wallets screen (:wallets)",
                theme.warning(),
            )];
        };
        let alias = wallet
            .summary
            .as_ref()
            .and_then(|s| s.keys.iter().find(|e| e.address == address))
            .map_or_else(String::new, |e| e.alias.clone());
        let mut lines = vec![
            line(
                "key",
                format!("{alias} {}", short(&address.to_string())),
                theme.text(),
                view,
            ),
            line(
                "balance",
                wallet
                    .balances
                    .get(&address)
                    .map_or_else(|| "-".to_owned(), ToString::to_string),
                theme.text(),
                view,
            ),
        ];
        match (&view.data.stake.value, &view.data.stake.error) {
            (Some(status), _) => {
                let active: Vec<_> = status
                    .tokens
                    .iter()
                    .filter(|t| t.state == TokenState::Active)
                    .collect();
                let best = active.iter().filter_map(|t| t.tier).max();
                lines.push(line(
                    "stake",
                    format!(
                        "{} seal token(s), {} active, tier {}",
                        status.tokens.len(),
                        active.len(),
                        best.map_or("none", |t| t.as_str())
                    ),
                    if best.is_some() {
                        theme.ok()
                    } else {
                        theme.warning()
                    },
                    view,
                ));
            }
            (None, Some(error)) => lines.push(line("stake", error.clone(), theme.error(), view)),
            (None, None) => lines.push(line("stake", "loading…".to_owned(), theme.muted(), view)),
        }
        lines
    }

    fn nodes(view: &View<'_>) -> Vec<Line<'static>> {
        let theme = view.theme;
        if let Some(state) = load_state(&view.data.nodes, "nodes") {
            return vec![Line::styled(state, theme.muted())];
        }
        let Some(list) = &view.data.nodes.value else {
            return Vec::new();
        };
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for node in &list.nodes {
            *counts.entry(node.state.label()).or_default() += 1;
        }
        let mut lines = vec![line(
            "total",
            list.nodes.len().to_string(),
            theme.text(),
            view,
        )];
        for (state, count) in counts {
            lines.push(line(state, count.to_string(), theme.text(), view));
        }
        for error in [&list.master_error, &list.cluster_error]
            .into_iter()
            .flatten()
        {
            lines.push(Line::styled(error.clone(), theme.warning()));
        }
        lines
    }

    fn events(view: &View<'_>) -> Vec<Line<'static>> {
        let theme = view.theme;
        let events = &view.data.events;
        let mut lines: Vec<Line<'static>> = events
            .value
            .iter()
            .flatten()
            .rev()
            .map(|e| {
                Line::from(vec![
                    Span::styled(format!("#{:<8}", e.checkpoint), theme.muted()),
                    Span::styled(e.text.clone(), theme.text()),
                ])
            })
            .collect();
        if let Some(error) = &events.error {
            lines.insert(
                0,
                Line::styled(format!("events unavailable: {error}"), theme.error()),
            );
        } else if lines.is_empty() {
            lines.push(Line::styled("no recent event", theme.muted()));
        }
        lines
    }
}

fn pcr_word(checked: bool) -> &'static str {
    if checked {
        "PCRs match"
    } else {
        "PCRs NOT CHECKED"
    }
}

impl Component for Overview {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
        let [master, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
        let [chain, wallet] =
            Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(right);
        let [nodes, events] =
            Layout::horizontal([Constraint::Percentage(30), Constraint::Percentage(70)])
                .areas(bottom);
        let theme = view.theme;
        let render = |frame: &mut Frame<'_>, area, title: &str, lines| {
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: true })
                    .block(block(title, theme)),
                area,
            );
        };
        render(frame, master, "Master", Self::master(view));
        render(frame, chain, "Chain", Self::chain(view));
        render(frame, wallet, "Wallet & stake", Self::wallet(view));
        render(frame, nodes, "Nodes", Self::nodes(view));
        render(frame, events, "Recent chain events", Self::events(view));
    }

    fn on_key(&mut self, _key: &KeyEvent, _view: &View<'_>) -> Option<Action> {
        None
    }

    fn commands(&self, _view: &View<'_>) -> Vec<Command> {
        Vec::new()
    }
}
