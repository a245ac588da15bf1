//! The application: which screen is shown, which popup is open, and how
//! actions change them. Data lives in [`Data`], screens in [`Screens`],
//! background work in [`super::loader`] and [`super::tasks`].

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent};
use daas_core::wallet::Passphrase;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Tabs, Wrap};
use tokio::sync::{Notify, mpsc};
use zeroize::Zeroizing;

use super::action::{Action, Mutation, Screen};
use super::components::attestation::Attestation;
use super::components::audit::Audit;
use super::components::confirm::Confirm;
use super::components::form::{Field, Form};
use super::components::gateway::Gateway;
use super::components::nodes::{Nodes, propose_form};
use super::components::overview::Overview;
use super::components::palette::Palette;
use super::components::short;
use super::components::slash::Slash;
use super::components::stake::Stake;
use super::components::wallets::Wallets;
use super::components::{Command, Component, View, block, centered, help};
use super::data::{AuditCheck, Data, DataEvent};
use super::keys::{Binding, KeyBindings};
use super::tasks::{self, TaskEvent, TuiUnlock};
use super::theme::Theme;
use crate::ops::Context;
use crate::ops::slash::Decision;
use daas_core::escape::single_line;

/// Every screen's component.
#[derive(Debug)]
pub struct Screens {
    overview: Overview,
    wallets: Wallets,
    stake: Stake,
    nodes: Nodes,
    attestation: Attestation,
    slash: Slash,
    audit: Audit,
    gateway: Gateway,
}

impl Default for Screens {
    fn default() -> Self {
        Self {
            overview: Overview,
            wallets: Wallets::default(),
            stake: Stake::default(),
            nodes: Nodes::default(),
            attestation: Attestation,
            slash: Slash::default(),
            audit: Audit::default(),
            gateway: Gateway::default(),
        }
    }
}

impl Screens {
    fn get(&mut self, screen: Screen) -> &mut dyn Component {
        match screen {
            Screen::Overview => &mut self.overview,
            Screen::Wallets => &mut self.wallets,
            Screen::Stake => &mut self.stake,
            Screen::Nodes => &mut self.nodes,
            Screen::Attestation => &mut self.attestation,
            Screen::Slash => &mut self.slash,
            Screen::Audit => &mut self.audit,
            Screen::Gateway => &mut self.gateway,
        }
    }
}

/// A popup over the screen.
#[derive(Debug)]
enum Popup {
    Palette(Palette),
    Help,
    Confirm(Confirm),
    Form(Form),
    /// The wallet's passphrase (twice for a new wallet) before `mutation`.
    Unlock(Box<Mutation>, Form),
    Secret(String, Zeroizing<String>),
}

/// The status line when there is nothing to say.
const HINT: &str = "? for help, : for commands";

/// How long a result stays on the status line before the hint returns
/// (k9s's flash). Progress stays until its task reports; an error until
/// something replaces it, so that it is not missed.
pub const FLASH_MS: u64 = 5_000;

/// The status line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Status {
    text: String,
    error: bool,
    expiry: Option<Expiry>,
}

/// When a flashed result leaves the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// [`FLASH_MS`] from the next tick (the clock is read there).
    FromNextTick,
    /// At this time (ms since the epoch).
    At(u64),
}

/// The console's state and its reactions to actions.
pub struct App {
    ctx: Context,
    /// What the screens show.
    pub data: Data,
    screens: Screens,
    current: Screen,
    popup: Option<Popup>,
    keys: KeyBindings,
    theme: Theme,
    status: Status,
    unlock: TuiUnlock,
    refresh: Arc<Notify>,
    tasks: mpsc::UnboundedSender<TaskEvent>,
    /// Set when the user asked to leave.
    pub quit: bool,
}

impl App {
    /// An app over `ctx`, drawing with `theme` (and `theme_error`, if the
    /// configured one failed), answering `keys`; background tasks report to
    /// `tasks`, and `refresh` wakes the loaders.
    pub fn new(
        ctx: Context,
        keys: KeyBindings,
        (theme, theme_error): (Theme, Option<String>),
        refresh: Arc<Notify>,
        tasks: mpsc::UnboundedSender<TaskEvent>,
    ) -> Self {
        Self {
            unlock: TuiUnlock::of(&ctx),
            ctx,
            data: Data::default(),
            screens: Screens::default(),
            current: Screen::Overview,
            popup: None,
            keys,
            theme,
            status: Status {
                text: theme_error.unwrap_or_else(|| HINT.to_owned()),
                error: false,
                expiry: None,
            },
            refresh,
            tasks,
            quit: false,
        }
    }

    /// The screen shown.
    pub fn screen(&self) -> Screen {
        self.current
    }

    /// The mutation waiting for confirmation, if any.
    pub fn confirming(&self) -> Option<&Mutation> {
        match &self.popup {
            Some(Popup::Confirm(confirm)) => Some(&confirm.mutation),
            _ => None,
        }
    }

    /// Whether a form (or the passphrase input) is open.
    pub fn form_open(&self) -> bool {
        matches!(self.popup, Some(Popup::Form(_) | Popup::Unlock(..)))
    }

    /// The status line's text, and whether it reports an error.
    pub fn status(&self) -> (&str, bool) {
        (&self.status.text, self.status.error)
    }

    /// Applies background news.
    pub fn on_data(&mut self, event: DataEvent) {
        self.data.apply(event);
    }

    /// Applies a task's news.
    pub fn on_task(&mut self, event: TaskEvent) {
        match event {
            TaskEvent::Planned(mutation, details) => {
                self.clear_status();
                self.popup = Some(Popup::Confirm(Confirm { mutation, details }));
            }
            TaskEvent::SlashTarget(node, Ok(token)) => {
                self.clear_status();
                self.popup = Some(Popup::Form(propose_form(&node, &token.to_string())));
            }
            TaskEvent::SlashTarget(_, Err(why)) => self.set_status(why, true),
            TaskEvent::Progress(text) => self.set_status(text, false),
            TaskEvent::Done(result) => {
                match result {
                    Ok(text) => self.flash(text),
                    Err(text) => self.set_status(text, true),
                }
                self.refresh.notify_one();
            }
            TaskEvent::Secret(name, secret) => self.popup = Some(Popup::Secret(name, secret)),
            TaskEvent::Audit(check) => {
                match &check {
                    AuditCheck::Verified(v) => {
                        self.flash(format!("{} verified", v.event.audit_id));
                    }
                    AuditCheck::Failed { audit_id, .. } => {
                        self.set_status(format!("{audit_id} NOT verified"), true);
                    }
                    AuditCheck::Running(_) => {}
                }
                self.data.apply(DataEvent::AuditCheck(check));
            }
            TaskEvent::Agent(result) => self.data.agent.set(result),
        }
    }

    /// Says `text` until something replaces it.
    fn set_status(&mut self, text: String, error: bool) {
        self.status = Status {
            text,
            error,
            expiry: None,
        };
    }

    /// Says the result `text` for [`FLASH_MS`].
    fn flash(&mut self, text: String) {
        self.status = Status {
            text,
            error: false,
            expiry: Some(Expiry::FromNextTick),
        };
    }

    /// The clock ticked: a flashed result whose time is up gives way to
    /// the hint.
    pub fn on_tick(&mut self, now_ms: u64) {
        match self.status.expiry {
            Some(Expiry::FromNextTick) => {
                self.status.expiry = Some(Expiry::At(now_ms.saturating_add(FLASH_MS)));
            }
            Some(Expiry::At(at)) if now_ms >= at => self.clear_status(),
            _ => {}
        }
    }

    /// Back to the hint: what the status line said is done with.
    fn clear_status(&mut self) {
        self.set_status(HINT.to_owned(), false);
    }

    /// Handles a key press.
    pub fn on_key(&mut self, key: &KeyEvent, now_ms: u64) {
        if let Some(action) = self.route_key(key, now_ms) {
            self.apply(action);
        }
    }

    fn route_key(&mut self, key: &KeyEvent, now_ms: u64) -> Option<Action> {
        let view = View {
            data: &self.data,
            theme: &self.theme,
            keys: &self.keys,
            settings: self.ctx.settings(),
            now_ms,
        };
        match &mut self.popup {
            Some(Popup::Palette(palette)) => return palette.on_key(key, &view),
            Some(Popup::Form(form)) => return form.on_key(key, &view),
            Some(Popup::Unlock(_, form)) => {
                if key.code == KeyCode::Enter {
                    return self.unlocked();
                }
                return form.on_key(key, &view);
            }
            Some(Popup::Confirm(confirm)) => return Some(confirm.on_key(key)),
            Some(Popup::Help | Popup::Secret(..)) => return Some(Action::Back),
            None => {}
        }
        if let Some(action) = self.screens.get(self.current).on_key(key, &view) {
            return Some(action);
        }
        let globals = [
            (Binding::Quit, Action::Quit),
            (Binding::Palette, Action::Palette),
            (Binding::Help, Action::Help),
            (Binding::Refresh, Action::Refresh),
            (Binding::Back, Action::Back),
        ];
        if let Some((_, action)) = globals.into_iter().find(|(b, _)| view.is(key, *b)) {
            return Some(action);
        }
        match key.code {
            KeyCode::Char(c @ '1'..='8') => {
                let index = usize::from(c as u8 - b'1');
                Screen::ALL
                    .get(index)
                    .map(|(screen, _)| Action::Goto(*screen))
            }
            _ => None,
        }
    }

    /// Changes state as `action` says.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::Back => self.popup = None,
            Action::Help => self.popup = Some(Popup::Help),
            Action::Palette => self.popup = Some(Popup::Palette(Palette::default())),
            Action::Goto(screen) => {
                self.popup = None;
                // What the last screen said is not about the next one.
                if screen != self.current {
                    self.clear_status();
                }
                self.current = screen;
            }
            Action::Refresh => {
                self.popup = None;
                self.refresh.notify_one();
                self.flash("refreshing…".to_owned());
            }
            Action::Status(text) => {
                self.close_confirm();
                if text.is_empty() {
                    self.clear_status();
                } else {
                    self.set_status(text, false);
                }
            }
            Action::Flash(text) => {
                self.close_confirm();
                self.flash(text);
            }
            Action::Refused(text) => self.set_status(text, true),
            Action::Form(form) => self.popup = Some(Popup::Form(form)),
            Action::Ask(mutation) => self.ask(mutation),
            Action::VerifyAudit(audit_id) => {
                self.popup = None;
                self.set_status(format!("verifying {audit_id}…"), false);
                self.data
                    .apply(DataEvent::AuditCheck(AuditCheck::Running(audit_id.clone())));
                tasks::verify_audit(
                    self.ctx.clone(),
                    audit_id,
                    self.unlock.clone(),
                    self.tasks.clone(),
                );
            }
            Action::Run(mutation) => self.run(mutation),
            Action::AgentMetrics(node) => {
                self.data.agent = Default::default();
                tasks::agent_metrics(
                    self.ctx.clone(),
                    node,
                    self.unlock.clone(),
                    self.tasks.clone(),
                );
            }
            Action::SlashNode(node) => {
                self.popup = None;
                if !self.refused_read_only("propose a slash") {
                    self.set_status(format!("finding the seal token of {node}…"), false);
                    tasks::slash_target(self.ctx.clone(), node, self.tasks.clone());
                }
            }
        }
    }

    /// A confirmation answered by anything but `y` is gone.
    fn close_confirm(&mut self) {
        if matches!(self.popup, Some(Popup::Confirm(_))) {
            self.popup = None;
        }
    }

    /// Refuses `action` in a read-only session; `true` when it did.
    fn refused_read_only(&mut self, action: &str) -> bool {
        if !self.ctx.settings().readonly {
            return false;
        }
        self.set_status(
            format!("refused: `{action}` changes state and this session is read-only"),
            true,
        );
        true
    }

    /// Opens the confirmation of `mutation`, or refuses it in a read-only
    /// session.
    fn ask(&mut self, mutation: Mutation) {
        self.popup = None;
        if self.refused_read_only(mutation.name()) {
            return;
        }
        if let Mutation::Stake(kind) = mutation {
            self.set_status("planning the stake…".to_owned(), false);
            tasks::plan(self.ctx.clone(), kind, self.tasks.clone());
            return;
        }
        let details = self.details(&mutation);
        self.popup = Some(Popup::Confirm(Confirm { mutation, details }));
    }

    /// What a confirmed `mutation` will do.
    fn details(&self, mutation: &Mutation) -> Vec<String> {
        let signer = crate::ops::wallet::address(&self.ctx)
            .map_or_else(|_| "the wallet's key".to_owned(), |a| a.to_string());
        match mutation {
            Mutation::CreateKey { alias } => vec![format!("generate an Ed25519 key `{alias}`")],
            Mutation::ImportKey { alias, .. } => vec![format!("import the key as `{alias}`")],
            Mutation::UseKey(name) => vec![format!("make `{name}` the active key")],
            Mutation::Faucet => vec![format!("ask the faucet to fund {signer}")],
            Mutation::ExportKey(name) => vec![
                format!("show the private key of `{name}`"),
                "anyone who sees it controls the stake".to_owned(),
            ],
            Mutation::Stake(_) => Vec::new(),
            Mutation::Token(token, action) => vec![
                action.describe(*token),
                format!("signed and paid by {signer}"),
            ],
            Mutation::Cordon(node, true) => vec![format!("mark node {node} unschedulable")],
            Mutation::Cordon(node, false) => vec![format!("mark node {node} schedulable again")],
            Mutation::Drain(node, o) => vec![
                format!(
                    "cordon node {node}, then {} its pods",
                    if o.disable_eviction {
                        "delete"
                    } else {
                        "evict"
                    }
                ),
                format!(
                    "grace period {}, timeout {}",
                    o.grace_period
                        .map_or_else(|| "the pods' own".to_owned(), |g| format!("{g}s")),
                    o.timeout
                        .map_or_else(|| "none".to_owned(), |t| format!("{}s", t.as_secs()))
                ),
                format!(
                    "delete emptyDir data: {} · ignore DaemonSets: {} · force: {} · disable eviction: {}",
                    o.delete_emptydir_data, o.ignore_daemonsets, o.force, o.disable_eviction
                ),
            ],
            Mutation::ProposeSlash { token, reason } => vec![
                format!("staking::propose_slash(token {token}, reason `{reason}`)"),
                format!("signed by {signer}"),
            ],
            Mutation::DecideSlash(id, decision) => {
                let proposal = self
                    .data
                    .slash
                    .value
                    .as_ref()
                    .and_then(|s| s.pending.iter().find(|p| p.id == *id));
                let mut lines = vec![match decision {
                    Decision::Approve => {
                        format!("staking::approve_slash(proposal #{id}) with your SlasherCap")
                    }
                    Decision::Reject => {
                        format!("staking::reject_slash(proposal #{id}) with your SlasherCap")
                    }
                }];
                if let Some(p) = proposal {
                    lines.push(format!(
                        "seal token {} node `{}`: {}",
                        p.seal_token,
                        single_line(&p.node),
                        single_line(&p.reason)
                    ));
                    if let (Decision::Approve, Some(amount)) = (decision, p.amount) {
                        lines.push(format!("slashes {amount}"));
                    }
                }
                lines
            }
        }
    }

    /// Runs a confirmed mutation, asking for the passphrase first if the
    /// wallet needs one.
    fn run(&mut self, mutation: Mutation) {
        self.popup = None;
        if self.ctx.settings().readonly {
            self.set_status(
                format!("refused: `{}` in a read-only session", mutation.name()),
                true,
            );
            return;
        }
        if self.unlock.needs_passphrase(&self.ctx, &mutation) {
            let new = self
                .ctx
                .wallet_dir()
                .ok()
                .and_then(|dir| daas_core::wallet::WalletStore::summary(&dir).ok())
                .flatten()
                .is_none();
            let mut fields = vec![Field::secret("passphrase")];
            if new {
                fields.push(Field::secret("repeat it"));
            }
            let hint = if new {
                "the new wallet's keys are encrypted under this passphrase (no OS keyring)"
            } else {
                "the wallet's keys are in an encrypted file"
            };
            let form = Form::new("Wallet passphrase", hint, "", fields, |_, _| {
                Ok(Action::Back)
            });
            self.popup = Some(Popup::Unlock(Box::new(mutation), form));
            return;
        }
        self.set_status(format!("{}…", mutation.name()), false);
        tasks::spawn(
            self.ctx.clone(),
            mutation,
            self.unlock.clone(),
            self.tasks.clone(),
        );
    }

    /// The passphrase popup was submitted: keep the passphrase for the
    /// session and run its mutation.
    fn unlocked(&mut self) -> Option<Action> {
        let Some(Popup::Unlock(mutation, form)) = self.popup.take() else {
            return None;
        };
        let first = Form::text(&form.fields, 0);
        if first.is_empty() {
            self.popup = Some(Popup::Unlock(
                mutation,
                Form {
                    error: Some("type the passphrase".to_owned()),
                    ..form
                },
            ));
            return None;
        }
        if form.fields.len() > 1 && Form::text(&form.fields, 1) != first {
            let retry = Form {
                error: Some("the passphrases do not match".to_owned()),
                ..form.clone()
            };
            self.popup = Some(Popup::Unlock(mutation, retry));
            return None;
        }
        self.unlock.remember(Passphrase::new(first));
        Some(Action::Run(*mutation))
    }

    /// How this session unlocks the wallet; clones share the passphrase
    /// typed (the loaders that sign get one).
    pub fn unlock(&self) -> TuiUnlock {
        self.unlock.clone()
    }

    /// Draws the whole console.
    pub fn draw(&mut self, frame: &mut Frame<'_>, now_ms: u64) {
        let area = frame.area();
        frame.render_widget(Background(&self.theme), area);
        let banner = u16::from(self.data.insecure());
        let [header, insecure, tabs, body, help_bar, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(banner),
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_header(frame, header);
        if banner > 0 {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    " INSECURE DEVELOPMENT ATTESTATION: the master's attestation has NO hardware guarantee; never trust it with real stake ",
                    self.theme.insecure(),
                ))
                .style(self.theme.insecure()),
                insecure,
            );
        }
        self.draw_tabs(frame, tabs);
        let view = View {
            data: &self.data,
            theme: &self.theme,
            keys: &self.keys,
            settings: self.ctx.settings(),
            now_ms,
        };
        let screen = self.screens.get(self.current);
        screen.draw(frame, body, &view);
        let commands = screen.commands(&view);
        self.draw_help_bar(frame, help_bar, &view, &commands);
        let style = if self.status.error {
            self.theme.error()
        } else {
            self.theme.muted()
        };
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {}", self.status.text), style)),
            status,
        );
        self.draw_popup(frame, body, &view, &commands);
    }

    fn draw_header(&self, frame: &mut Frame<'_>, area: Rect) {
        let settings = self.ctx.settings();
        let theme = &self.theme;
        let key = self
            .data
            .wallet
            .value
            .as_ref()
            .and_then(|w| w.current)
            .map_or_else(|| "no key".to_owned(), |a| short(&a.to_string()));
        let mut spans = vec![
            Span::styled(" daas-console ", theme.title()),
            Span::styled(format!("profile {} ", settings.profile), theme.text()),
            Span::styled(
                format!(
                    "· master {} ",
                    settings.master.as_ref().map_or("none", |m| m.url.as_str())
                ),
                theme.muted(),
            ),
            Span::styled(
                format!("· chain {} ", settings.chain.endpoint()),
                theme.muted(),
            ),
            Span::styled(format!("· key {key} "), theme.muted()),
        ];
        if settings.readonly {
            spans.push(Span::styled(" READ-ONLY ", theme.warning()));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_tabs(&self, frame: &mut Frame<'_>, area: Rect) {
        let titles = Screen::ALL
            .iter()
            .enumerate()
            .map(|(i, (_, name))| format!("{} {name}", i + 1));
        let selected = Screen::ALL.iter().position(|(s, _)| *s == self.current);
        frame.render_widget(
            Tabs::new(titles)
                .select(selected)
                .style(self.theme.muted())
                .highlight_style(self.theme.selected())
                .divider("│"),
            area,
        );
    }

    fn draw_help_bar(
        &self,
        frame: &mut Frame<'_>,
        area: Rect,
        view: &View<'_>,
        commands: &[Command],
    ) {
        let mut spans = Vec::new();
        let global = help::global();
        let shown = commands
            .iter()
            .chain(global.iter())
            .filter(|c| !(c.mutating && view.readonly()));
        for command in shown {
            spans.push(Span::styled(
                format!(" <{}>", self.keys.key(command.binding)),
                self.theme.key(),
            ));
            spans.push(Span::styled(
                format!(" {}", command.label),
                self.theme.muted(),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_popup(&self, frame: &mut Frame<'_>, body: Rect, view: &View<'_>, commands: &[Command]) {
        match &self.popup {
            None => {}
            Some(Popup::Palette(palette)) => {
                let [line, _] =
                    Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(body);
                palette.draw(frame, line, view);
            }
            Some(Popup::Help) => help::draw(frame, body, view, self.current.name(), commands),
            Some(Popup::Confirm(confirm)) => confirm.draw(frame, body, view),
            Some(Popup::Form(form) | Popup::Unlock(_, form)) => form.draw(frame, body, view),
            Some(Popup::Secret(name, secret)) => {
                let popup = centered(body, 96, 7);
                frame.render_widget(Clear, popup);
                frame.render_widget(
                    Paragraph::new(vec![
                        Line::styled(secret.as_str().to_owned(), self.theme.warning()),
                        Line::raw(""),
                        Line::styled(
                            "anyone who sees this controls the stake · any key closes",
                            self.theme.muted(),
                        ),
                    ])
                    .wrap(Wrap { trim: false })
                    .block(block(format!("Secret of {name}"), &self.theme)),
                    popup,
                );
            }
        }
    }
}

/// The background, in the theme's colours.
struct Background<'a>(&'a Theme);

impl ratatui::widgets::Widget for Background<'_> {
    fn render(self, area: Rect, buf: &mut ratatui::buffer::Buffer) {
        buf.set_style(
            area,
            Style::new().fg(self.0.foreground).bg(self.0.background),
        );
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}
