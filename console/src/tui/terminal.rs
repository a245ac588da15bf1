//! The terminal: raw mode and the alternate screen while the console runs,
//! one task turning crossterm's event stream and a tick into [`Event`]s,
//! and a panic hook that gives the terminal back before the panic prints.

use std::io::{Stdout, stdout};
use std::time::Duration;

use crossterm::event::{Event as CrosstermEvent, EventStream, KeyEvent, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::StreamExt as _;
use ratatui::Terminal as RatatuiTerminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the terminal reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A key was pressed.
    Key(KeyEvent),
    /// The window changed size.
    Resize,
    /// Time to redraw (countdowns, ages).
    Tick,
}

/// The terminal while the console owns it; restored on drop.
pub struct Terminal {
    terminal: RatatuiTerminal<CrosstermBackend<Stdout>>,
    events: mpsc::UnboundedReceiver<Event>,
    task: JoinHandle<()>,
}

impl Terminal {
    /// Takes the terminal over: raw mode, alternate screen, and the event
    /// task ticking every `tick`.
    ///
    /// # Errors
    /// The terminal refused raw mode or the alternate screen.
    pub fn enter(tick: Duration) -> std::io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        execute!(stdout(), EnterAlternateScreen)?;
        let terminal = RatatuiTerminal::new(CrosstermBackend::new(stdout()))?;
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(read_events(tx, tick));
        Ok(Self {
            terminal,
            events,
            task,
        })
    }

    /// The next event; `None` when the terminal's input ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Draws one frame.
    ///
    /// # Errors
    /// Writing to the terminal failed.
    pub fn draw(&mut self, render: impl FnOnce(&mut ratatui::Frame<'_>)) -> std::io::Result<()> {
        self.terminal.draw(render).map(drop)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.task.abort();
        restore();
    }
}

/// Gives the terminal back: cooked mode, main screen, cursor shown.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Restores the terminal before the default panic output, so a panic is
/// readable and the shell usable.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

async fn read_events(tx: mpsc::UnboundedSender<Event>, tick: Duration) {
    let mut reader = EventStream::new();
    let mut ticks = tokio::time::interval(tick);
    loop {
        let event = tokio::select! {
            _ = ticks.tick() => Event::Tick,
            next = reader.next() => match next {
                Some(Ok(CrosstermEvent::Key(key))) if key.kind != KeyEventKind::Release => Event::Key(key),
                Some(Ok(CrosstermEvent::Resize(..))) => Event::Resize,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return,
            },
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}
