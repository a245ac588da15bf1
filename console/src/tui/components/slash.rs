//! Slash review: pending proposals with node, owner, amount, reason and
//! evidence; `a` approves and `r` rejects (each confirmed, signed with the
//! wallet's SlasherCap); the history of decided proposals below.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::table::{self, Cursor};
use super::{Command, Component, View, block, draw_load_state, short, time};
use crate::ops::slash::Decision;
use crate::tui::action::{Action, Mutation};
use crate::tui::keys::Binding;
use daas_core::escape::single_line;

/// The Slash review screen.
#[derive(Debug, Default)]
pub struct Slash {
    cursor: Cursor,
}

impl Component for Slash {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let (data, what) = (&view.data.slash, "slash proposals");
        if draw_load_state(frame, area, data, what, "Slash review", theme) {
            return;
        }
        let Some(slash) = &view.data.slash.value else {
            return;
        };
        let [pending, history] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
        let title = if slash.is_slasher {
            format!("Pending proposals ({})", slash.pending.len())
        } else {
            format!(
                "Pending proposals ({}) · your key holds no SlasherCap: review only",
                slash.pending.len()
            )
        };
        if slash.pending.is_empty() {
            frame.render_widget(
                Paragraph::new(Line::styled("no pending proposal", theme.muted()))
                    .block(block(title, theme)),
                pending,
            );
        } else {
            let dash = || "-".to_owned();
            table::draw(
                frame,
                pending,
                block(title, theme),
                theme,
                Row::new([
                    "ID", "NODE", "OWNER", "STAKE", "SLASHES", "REASON", "EVIDENCE", "PROPOSED",
                ]),
                &[
                    Constraint::Length(4),
                    Constraint::Length(16),
                    Constraint::Length(14),
                    Constraint::Length(10),
                    Constraint::Length(10),
                    Constraint::Min(16),
                    Constraint::Length(14),
                    Constraint::Length(20),
                ],
                &mut self.cursor,
                slash.pending.len(),
                |i| {
                    let p = &slash.pending[i];
                    Row::new(vec![
                        p.id.to_string(),
                        if p.node.is_empty() {
                            "(user)".to_owned()
                        } else {
                            single_line(&p.node).into_owned()
                        },
                        p.owner.map_or_else(dash, |o| short(&o.to_string())),
                        p.stake.map_or_else(dash, |s| s.to_string()),
                        p.amount.map_or_else(dash, |s| s.to_string()),
                        single_line(&p.reason).into_owned(),
                        short(&p.evidence_hash),
                        time(p.created_at_ms),
                    ])
                },
            );
        }
        let rows = slash.history.iter().rev().map(|d| {
            let style = if d.outcome == "approved" {
                theme.error()
            } else {
                theme.ok()
            };
            Row::new(vec![
                Span::raw(d.id.to_string()),
                Span::raw(short(&d.seal_token.to_string())),
                Span::styled(d.outcome, style),
                Span::raw(d.slashed.map_or_else(|| "-".to_owned(), |s| s.to_string())),
                Span::raw(short(&d.by.to_string())),
                Span::raw(single_line(&d.reason).into_owned()),
            ])
        });
        frame.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(4),
                    Constraint::Length(14),
                    Constraint::Length(9),
                    Constraint::Length(10),
                    Constraint::Length(14),
                    Constraint::Min(10),
                ],
            )
            .header(
                Row::new(["ID", "SEAL TOKEN", "OUTCOME", "SLASHED", "BY", "REASON"])
                    .style(theme.header()),
            )
            .block(block(format!("Decided ({})", slash.history.len()), theme)),
            history,
        );
    }

    fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action> {
        let pending = view
            .data
            .slash
            .value
            .as_ref()
            .map_or(&[][..], |s| s.pending.as_slice());
        if self.cursor.on_key(key, view, pending.len()) {
            return Some(Action::Status(String::new()));
        }
        let decision = if view.is(key, Binding::Approve) {
            Decision::Approve
        } else if view.is(key, Binding::Reject) {
            Decision::Reject
        } else {
            return None;
        };
        let proposal = pending.get(self.cursor.selected(pending.len())?)?;
        Some(Action::Ask(Mutation::DecideSlash(proposal.id, decision)))
    }

    fn commands(&self, _view: &View<'_>) -> Vec<Command> {
        vec![
            Command::write(Binding::Approve, "approve (slash)"),
            Command::write(Binding::Reject, "reject"),
        ]
    }
}
