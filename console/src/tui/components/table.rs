//! Selection and scrolling over long tables: only the rows on screen are
//! built, so 5,000 nodes cost what 40 do.

use std::ops::Range;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Row, Table};

use super::View;
use crate::tui::keys::Binding;
use crate::tui::theme::Theme;

/// Which row is selected and which is at the top.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    selected: usize,
    offset: usize,
    /// Rows visible at the last draw.
    page: usize,
}

impl Cursor {
    /// The selected row, if any of `len` rows.
    pub fn selected(&self, len: usize) -> Option<usize> {
        (len > 0).then(|| self.selected.min(len - 1))
    }

    /// Moves with the navigation keys; `false` if `key` is none of them.
    pub fn on_key(&mut self, key: &KeyEvent, view: &View<'_>, len: usize) -> bool {
        let page = self.page.max(1);
        let last = len.saturating_sub(1);
        let selected = self.selected.min(last);
        self.selected = if view.is(key, Binding::Down) {
            (selected + 1).min(last)
        } else if view.is(key, Binding::Up) {
            selected.saturating_sub(1)
        } else if view.is(key, Binding::PageDown) {
            (selected + page).min(last)
        } else if view.is(key, Binding::PageUp) {
            selected.saturating_sub(page)
        } else if view.is(key, Binding::Top) {
            0
        } else if view.is(key, Binding::Bottom) {
            last
        } else {
            return false;
        };
        true
    }

    /// Goes back to the first row (after the rows changed).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// The rows to show in `height` lines of `len`, scrolling to keep the
    /// selection visible.
    pub fn window(&mut self, len: usize, height: usize) -> Range<usize> {
        self.page = height;
        if len == 0 || height == 0 {
            return 0..0;
        }
        self.selected = self.selected.min(len - 1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
        self.offset..(self.offset + height).min(len)
    }
}

/// Draws `header` and the visible rows of `len` rows (built by `row` for
/// each index on screen) in `block`, the selected one highlighted.
#[allow(clippy::too_many_arguments)]
pub fn draw<'a>(
    frame: &mut Frame<'_>,
    area: Rect,
    block: Block<'a>,
    theme: &Theme,
    header: Row<'a>,
    widths: &[Constraint],
    cursor: &mut Cursor,
    len: usize,
    mut row: impl FnMut(usize) -> Row<'a>,
) {
    let inner = block.inner(area).height.saturating_sub(1) as usize;
    let window = cursor.window(len, inner);
    let selected = cursor.selected(len);
    let rows: Vec<Row<'a>> = window
        .map(|i| {
            let built = row(i);
            if Some(i) == selected {
                built.style(theme.selected())
            } else {
                built
            }
        })
        .collect();
    let table = Table::new(rows, widths.to_vec())
        .header(header.style(theme.header()))
        .block(block)
        .column_spacing(1);
    frame.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_selection() {
        let mut cursor = Cursor::default();
        assert_eq!(cursor.window(5000, 10), 0..10);
        cursor.selected = 25;
        assert_eq!(cursor.window(5000, 10), 16..26);
        cursor.selected = 4999;
        assert_eq!(cursor.window(5000, 10), 4990..5000);
        cursor.selected = 3;
        assert_eq!(cursor.window(5000, 10), 3..13);
        assert_eq!(cursor.window(0, 10), 0..0);
        assert_eq!(cursor.selected(0), None);
        cursor.selected = 9000;
        assert_eq!(cursor.window(2, 10), 0..2);
        assert_eq!(cursor.selected(2), Some(1));
    }
}
