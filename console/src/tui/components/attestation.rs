//! Attestation: verified or not, TEE type, module id, PCRs against the
//! expected ones, document age, the pinned TLS key.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};

use super::{Command, Component, View, block};
use crate::tui::action::Action;
use daas_core::clock::format_span;

/// The Attestation screen.
#[derive(Debug, Default)]
pub struct Attestation;

impl Component for Attestation {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let Some(master) = &view.settings.master else {
            frame.render_widget(
                Paragraph::new(Line::styled("no master configured", theme.muted()))
                    .block(block("Attestation", theme)),
                area,
            );
            return;
        };
        let loaded = &view.data.attestation;
        let Some(report) = &loaded.value else {
            let text = match &loaded.error {
                Some(error) => Line::styled(
                    format!("{} is NOT attested: {error}", master.url),
                    theme.error(),
                ),
                None => Line::styled(format!("attesting {}…", master.url), theme.muted()),
            };
            frame.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: true })
                    .block(block("Attestation", theme)),
                area,
            );
            return;
        };
        let [summary, pcrs] =
            Layout::vertical([Constraint::Length(11), Constraint::Min(4)]).areas(area);
        let field = |label: &str, value: String, style| {
            Line::from(vec![
                Span::styled(format!("{label:<16}"), theme.header()),
                Span::styled(value, style),
            ])
        };
        let age = view.now_ms.saturating_sub(report.timestamp_ms) / 1000;
        let mut lines = vec![
            field(
                "verdict",
                if report.insecure_dev {
                    "ATTESTED with INSECURE development attestation (no hardware guarantee)"
                        .to_owned()
                } else {
                    "ATTESTED".to_owned()
                },
                if report.insecure_dev {
                    theme.warning()
                } else {
                    theme.ok()
                },
            ),
            field("master", report.master.clone(), theme.text()),
            field(
                "TEE",
                format!(
                    "{} (security level {})",
                    report.tee_type, report.security_level
                ),
                theme.text(),
            ),
            field("root", report.root.to_owned(), theme.text()),
            field("module id", report.enclave_id.clone(), theme.text()),
            field("document age", format_span(age), theme.text()),
            field(
                "PCRs checked",
                if report.pcrs_checked() {
                    format!("against {}", report.pcrs_checked_against)
                } else {
                    "NO: no expected PCRs configured".to_owned()
                },
                if report.pcrs_checked() {
                    theme.ok()
                } else {
                    theme.warning()
                },
            ),
            field(
                "signing key",
                report.signing_public_key.clone(),
                theme.text(),
            ),
            field(
                "pinned TLS key",
                format!("sha256:{}", report.tls_spki_sha256),
                theme.text(),
            ),
        ];
        if let Some(error) = &loaded.error {
            lines.push(field("last re-attest", error.clone(), theme.error()));
        }
        frame.render_widget(
            Paragraph::new(lines).block(block("Attestation", theme)),
            summary,
        );
        let rows = report.pcrs.iter().map(|(index, value)| {
            let (verdict, style) = match report.expected_pcrs.get(index) {
                Some(expected) if expected == value => ("match", theme.ok()),
                Some(_) => ("MISMATCH", theme.error()),
                None => ("-", theme.muted()),
            };
            Row::new(vec![
                Span::raw(format!("PCR{index}")),
                Span::raw(value.clone()),
                Span::styled(verdict, style),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Length(6),
                Constraint::Min(20),
                Constraint::Length(9),
            ],
        )
        .header(Row::new(["PCR", "VALUE", "EXPECTED"]).style(theme.header()))
        .block(block("PCRs", theme));
        frame.render_widget(table, pcrs);
    }

    fn on_key(&mut self, _key: &KeyEvent, _view: &View<'_>) -> Option<Action> {
        None
    }

    fn commands(&self, _view: &View<'_>) -> Vec<Command> {
        Vec::new()
    }
}
