//! Gateway: the Kubernetes requests submitted on chain, newest first, with
//! the result the master recorded (status, signing enclave) or `pending`.
//! Submitting is `daas-console gateway submit` (it shows what it signs).

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row};

use super::table::{self, Cursor};
use super::{Command, Component, View, block, draw_load_state, short, time};
use crate::tui::action::Action;
use daas_core::escape::single_line;

/// The Gateway screen.
#[derive(Debug, Default)]
pub struct Gateway {
    cursor: Cursor,
}

impl Component for Gateway {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let title = "Gateway requests · submit with `daas-console gateway submit`";
        if draw_load_state(
            frame,
            area,
            &view.data.gateway,
            "gateway requests",
            title,
            theme,
        ) {
            return;
        }
        let Some(requests) = &view.data.gateway.value else {
            return;
        };
        if requests.is_empty() {
            frame.render_widget(
                Paragraph::new(Line::styled("no request submitted on chain", theme.muted()))
                    .block(block(title, theme)),
                area,
            );
            return;
        }
        table::draw(
            frame,
            area,
            block(format!("{title} ({})", requests.len()), theme),
            theme,
            Row::new([
                "REQUEST",
                "METHOD",
                "PATH",
                "NAMESPACE",
                "SENDER",
                "TIER",
                "RESULT",
                "SUBMITTED",
            ]),
            &[
                Constraint::Length(14),
                Constraint::Length(7),
                Constraint::Min(24),
                Constraint::Length(24),
                Constraint::Length(14),
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(20),
            ],
            &mut self.cursor,
            requests.len(),
            |i| {
                let r = &requests[requests.len() - 1 - i];
                Row::new(vec![
                    short(&r.id.to_string()),
                    r.method.to_string(),
                    single_line(&r.path).into_owned(),
                    single_line(&r.namespace).into_owned(),
                    short(&r.sender.to_string()),
                    r.tier.map_or_else(|| "none".to_owned(), |t| t.to_string()),
                    r.result
                        .as_ref()
                        .map_or_else(|| "pending".to_owned(), |res| res.status_code.to_string()),
                    time(r.submitted_at_ms),
                ])
            },
        );
    }

    fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action> {
        let count = view.data.gateway.value.as_ref().map_or(0, Vec::len);
        self.cursor
            .on_key(key, view, count)
            .then(|| Action::Status(String::new()))
    }

    fn commands(&self, _view: &View<'_>) -> Vec<Command> {
        Vec::new()
    }
}
