//! The confirmation every mutation passes through: what will happen (and
//! be signed), `y` to go ahead, anything else to cancel.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{View, block, centered, wrapped_height};
use crate::tui::action::{Action, Mutation};

/// The confirmation's least and greatest width.
const MIN_WIDTH: u16 = 60;
const MAX_WIDTH: u16 = 150;

/// A mutation waiting for `y`.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// The mutation.
    pub mutation: Mutation,
    /// What will happen, line by line.
    pub details: Vec<String>,
}

impl Confirm {
    /// `y` runs the mutation; anything else cancels it.
    pub fn on_key(&self, key: &KeyEvent) -> Action {
        match key.code {
            KeyCode::Char('y' | 'Y') => Action::Run(self.mutation.clone()),
            _ => Action::Flash(format!(
                "{} cancelled; nothing was done",
                self.mutation.name()
            )),
        }
    }

    /// Draws the question centred in `area`.
    pub fn draw(&self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let mut lines: Vec<Line<'_>> = self
            .details
            .iter()
            .map(|d| Line::styled(d.clone(), theme.text()))
            .collect();
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("{}? y: yes · any other key: cancel", self.mutation.name()),
            theme.warning(),
        ));
        let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
        // As wide as its longest line where the screen allows: what is
        // signed (object ids, Move calls) reads best unwrapped.
        let width = u16::try_from(paragraph.line_width() + 2)
            .unwrap_or(u16::MAX)
            .clamp(MIN_WIDTH, MAX_WIDTH)
            .min(area.width);
        let popup = centered(area, width, wrapped_height(&paragraph, width));
        frame.render_widget(Clear, popup);
        frame.render_widget(paragraph.block(block("Confirm", theme)), popup);
    }
}
