//! The audit log: the master's signed checkpoints and where each is
//! anchored; `v` asks for an auditID and verifies that event against the
//! chain (leaf, inclusion proof, checkpoint signature by the registered
//! enclave key, on-chain anchor), showing each result below.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Wrap};

use super::form::{Field, Form};
use super::table::{self, Cursor};
use super::{Command, Component, View, block, draw_load_state, short, time};
use crate::tui::action::Action;
use crate::tui::data::AuditCheck;
use crate::tui::keys::Binding;

/// The Audit screen.
#[derive(Debug, Default)]
pub struct Audit {
    cursor: Cursor,
}

impl Component for Audit {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let [list, check] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(9)]).areas(area);
        self.draw_checkpoints(frame, list, view);
        draw_check(frame, check, view);
    }

    fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action> {
        let rows = view
            .data
            .audit
            .value
            .as_ref()
            .map_or(0, |list| list.checkpoints.len());
        if self.cursor.on_key(key, view, rows) {
            return Some(Action::Status(String::new()));
        }
        view.is(key, Binding::VerifyEvent)
            .then(|| Action::Form(verify_form()))
    }

    fn commands(&self, _view: &View<'_>) -> Vec<Command> {
        vec![Command::read(Binding::VerifyEvent, "verify an event")]
    }
}

impl Audit {
    fn draw_checkpoints(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let (data, what) = (&view.data.audit, "audit checkpoints");
        if draw_load_state(frame, area, data, what, "Audit checkpoints", theme) {
            return;
        }
        let Some(list) = &view.data.audit.value else {
            return;
        };
        let anchored = list
            .checkpoints
            .iter()
            .filter(|c| c.anchor.is_some())
            .count();
        // No origin until the replica's log exists on chain.
        let origin = if list.origin.is_empty() {
            "no log on chain yet"
        } else {
            &list.origin
        };
        let title = format!(
            "Audit checkpoints · {origin} · {} events stored · {anchored}/{} anchored",
            list.stored,
            list.checkpoints.len()
        );
        if list.checkpoints.is_empty() {
            frame.render_widget(
                Paragraph::new(Line::styled("no checkpoint signed yet", theme.muted()))
                    .block(block(title, theme)),
                area,
            );
            return;
        }
        // Newest first.
        let count = list.checkpoints.len();
        table::draw(
            frame,
            area,
            block(title, theme),
            theme,
            Row::new(["SIZE", "ROOT", "SIGNED", "ANCHOR"]),
            &[
                Constraint::Length(10),
                Constraint::Length(64),
                Constraint::Length(20),
                Constraint::Min(12),
            ],
            &mut self.cursor,
            count,
            |i| {
                let checkpoint = &list.checkpoints[count - 1 - i];
                let anchor = match &checkpoint.anchor {
                    Some(anchor) if anchor.tx_digest.is_empty() => {
                        Span::styled("anchored", theme.ok())
                    }
                    Some(anchor) => Span::styled(short(&anchor.tx_digest), theme.ok()),
                    None => Span::styled("pending", theme.warning()),
                };
                Row::new(vec![
                    Span::raw(checkpoint.tree_size.to_string()),
                    Span::raw(checkpoint.root.clone()),
                    Span::raw(time(checkpoint.timestamp_ms)),
                    anchor,
                ])
            },
        );
    }
}

fn draw_check(frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
    let theme = view.theme;
    let lines = match &view.data.audit_check {
        None => vec![Line::styled(
            "press v and give an auditID (the API server's Audit-Id header) to verify that \
             event against the chain",
            theme.muted(),
        )],
        Some(AuditCheck::Running(id)) => {
            vec![Line::styled(format!("verifying {id}…"), theme.muted())]
        }
        Some(AuditCheck::Failed { audit_id, error }) => vec![
            Line::styled(format!("{audit_id}: NOT VERIFIED"), theme.error()),
            Line::raw(error.clone()),
        ],
        Some(AuditCheck::Verified(v)) => vec![
            Line::styled(
                format!("{}: VERIFIED against the chain", v.event.audit_id),
                theme.ok(),
            ),
            Line::raw(format!(
                "{} {} {}/{} {} → {}",
                v.event.user,
                v.event.verb,
                v.event.namespace,
                v.event.resource,
                v.event.name,
                v.event.response_code
            )),
            Line::raw(format!(
                "leaf {} of {} · root {}",
                v.leaf_index, v.tree_size, v.root
            )),
            Line::raw(format!(
                "signed by enclave {} · anchored {}",
                v.enclave_id,
                time(v.anchored_at_ms)
            )),
        ],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block("Verify an event", theme)),
        area,
    );
}

fn verify_form() -> Form {
    Form::new(
        "Verify an audit event",
        "the event's auditID: the Audit-Id header of the API server's answer",
        "",
        vec![Field::text("auditID", "")],
        |_, fields| {
            let id = Form::text(fields, 0).trim().to_owned();
            if id.is_empty() {
                return Err("give the event's auditID".to_owned());
            }
            Ok(Action::VerifyAudit(id))
        },
    )
}
