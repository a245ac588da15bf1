//! The terminal UI: `daas-console` with no subcommand.
//!
//! [`terminal`] owns the terminal and one event task; keys become
//! [`action::Action`]s and only actions change state ([`app`](mod@app)); screens
//! and popups are [`components`]; network I/O runs in background tasks
//! ([`loader`], [`tasks`]) that report through channels, so drawing never
//! waits. The first frame is drawn before any network call. Logs go to a
//! file (`~/.cache/k3s-daas/console.log`), never to the screen.

pub mod action;
pub mod app;
pub mod chain_event;
pub mod components;
pub mod data;
pub mod keys;
pub mod loader;
pub mod tasks;
pub mod terminal;
pub mod theme;

use daas_core::clock::unix_now_ms;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::{Notify, mpsc};

use self::app::App;
use self::keys::KeyBindings;
use self::loader::Loaders;
use self::terminal::{Event, Terminal};
use self::theme::Theme;
use crate::config::{ConfigError, Settings};
use crate::ops::Context;

/// The key bindings of `settings`.
///
/// # Errors
/// A bad `[keys]` entry, named with the file.
pub fn key_bindings(settings: &Settings) -> Result<KeyBindings, ConfigError> {
    KeyBindings::new(&settings.keys).map_err(|(key, reason)| ConfigError::Invalid {
        path: settings
            .source
            .clone()
            .unwrap_or_else(|| "(built-in configuration)".into()),
        key,
        reason,
    })
}

/// An app over `ctx` with its task channel (for tests and [`run`]).
///
/// # Errors
/// Bad key bindings.
pub fn app(
    ctx: Context,
    refresh: Arc<Notify>,
) -> Result<(App, mpsc::UnboundedReceiver<tasks::TaskEvent>), ConfigError> {
    let keys = key_bindings(ctx.settings())?;
    let theme = Theme::load(&ctx.settings().theme);
    let (tasks, task_news) = mpsc::unbounded_channel();
    Ok((App::new(ctx, keys, theme, refresh, tasks), task_news))
}

/// Runs the TUI until the user quits.
///
/// # Errors
/// Bad key bindings, or the terminal failed.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let _log = log_to_file();
    let tick = settings.ui.tick;
    let ctx = Context::new(settings);
    let refresh = Arc::new(Notify::new());
    let (mut app, mut task_news) = app(ctx.clone(), Arc::clone(&refresh))?;
    let mut terminal = Terminal::enter(tick).context("cannot take over the terminal")?;
    // The first frame, before any network call.
    terminal.draw(|frame| app.draw(frame, unix_now_ms()))?;
    let (news_tx, mut news) = mpsc::unbounded_channel();
    let loaders = Loaders::spawn(ctx, news_tx, app.unlock());
    loop {
        tokio::select! {
            event = terminal.next() => match event {
                Some(Event::Key(key)) => app.on_key(&key, unix_now_ms()),
                Some(Event::Tick) => app.on_tick(unix_now_ms()),
                Some(Event::Resize) => {}
                None => break,
            },
            Some(event) = news.recv() => app.on_data(event),
            Some(event) = task_news.recv() => app.on_task(event),
            () = refresh.notified() => loaders.refresh(),
        }
        if app.quit {
            break;
        }
        terminal.draw(|frame| app.draw(frame, unix_now_ms()))?;
    }
    Ok(())
}

/// Sends `tracing` output to `~/.cache/k3s-daas/console.log` (`RUST_LOG`
/// filters it), never to the screen.
fn log_to_file() -> Option<()> {
    let dir = directories::ProjectDirs::from("io", "k3s-daas", "k3s-daas")?
        .cache_dir()
        .to_path_buf();
    std::fs::create_dir_all(&dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("console.log"))
        .ok()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()
}
