//! Nodes: every node with its owner, stake, status, heartbeat, CPU,
//! memory and pods; `/` filters, `o`/`O` sort; cordon, uncordon, drain
//! with k9s's options, propose a slash, and `enter` opens the node.

use std::cmp::Ordering;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};

use super::form::{Field, Form};
use super::node_detail::NodeDetail;
use super::table::{self, Cursor};
use super::{Command, Component, View, block, draw_load_state, short};
use crate::ops::drain::DrainOptions;
use crate::ops::nodes::{NodeRow, NodeState};
use crate::tui::action::{Action, Mutation};
use crate::tui::keys::Binding;
use daas_core::access::MAX_NODE_NAME_LEN;
use daas_core::clock::format_span;

/// The columns, in order, with their headers.
/// The NAME column's least width: its header and sort arrow, and room for
/// short names.
const NAME_MIN_WIDTH: usize = 16;

const COLUMNS: [&str; 8] = [
    "NAME", "STATUS", "OWNER", "STAKE", "BEAT", "CPU%", "MEM%", "PODS",
];

/// The Nodes screen.
#[derive(Debug, Default)]
pub struct Nodes {
    cursor: Cursor,
    filter: String,
    editing_filter: bool,
    sort: usize,
    descending: bool,
    /// Indices of the nodes shown, filtered and sorted.
    shown: Vec<usize>,
    /// The data version, filter and sort `shown` was computed for.
    shown_for: Option<(u64, String, usize, bool)>,
    detail: Option<NodeDetail>,
}

impl Nodes {
    /// Recomputes the rows shown when the nodes, filter or sort changed.
    pub fn refresh_shown(&mut self, view: &View<'_>) {
        let key = (
            view.data.nodes.version,
            self.filter.clone(),
            self.sort,
            self.descending,
        );
        if self.shown_for.as_ref() == Some(&key) {
            return;
        }
        let nodes = view
            .data
            .nodes
            .value
            .as_ref()
            .map_or(&[][..], |l| l.nodes.as_slice());
        self.shown = filter(nodes, &self.filter);
        let (column, descending) = (self.sort, self.descending);
        self.shown.sort_by(|a, b| {
            let order = compare(&nodes[*a], &nodes[*b], column);
            if descending { order.reverse() } else { order }
        });
        self.shown_for = Some(key);
    }

    fn selected<'a>(&self, view: &View<'a>) -> Option<&'a NodeRow> {
        let nodes = &view.data.nodes.value.as_ref()?.nodes;
        let index = self.cursor.selected(self.shown.len())?;
        nodes.get(*self.shown.get(index)?)
    }

    fn on_filter_key(&mut self, key: &KeyEvent, view: &View<'_>) {
        match key.code {
            KeyCode::Enter => self.editing_filter = false,
            KeyCode::Esc => {
                self.editing_filter = false;
                self.filter.clear();
            }
            KeyCode::Backspace => drop(self.filter.pop()),
            KeyCode::Char(c) => self.filter.push(c),
            _ => return,
        }
        self.cursor.reset();
        self.refresh_shown(view);
    }
}

/// Indices of the nodes whose name, owner, status or seal token contains
/// `filter` (case-insensitive).
pub fn filter(nodes: &[NodeRow], filter: &str) -> Vec<usize> {
    let needle = filter.trim().to_ascii_lowercase();
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            needle.is_empty()
                || contains(&n.name, &needle)
                || contains(n.state.label(), &needle)
                || n.owner.as_deref().is_some_and(|o| contains(o, &needle))
                || n.seal_token
                    .as_deref()
                    .is_some_and(|t| contains(t, &needle))
        })
        .map(|(i, _)| i)
        .collect()
}

fn contains(haystack: &str, lowercase_needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(lowercase_needle.len())
        .any(|w| w.eq_ignore_ascii_case(lowercase_needle.as_bytes()))
}

fn compare(a: &NodeRow, b: &NodeRow, column: usize) -> Ordering {
    let by = match column {
        1 => a.state.cmp(&b.state),
        2 => a.owner.cmp(&b.owner),
        3 => a.stake.cmp(&b.stake),
        4 => a.heartbeat_age_secs.cmp(&b.heartbeat_age_secs),
        5 => a.cpu.partial_cmp(&b.cpu).unwrap_or(Ordering::Equal),
        6 => a.memory.partial_cmp(&b.memory).unwrap_or(Ordering::Equal),
        7 => a.pods.cmp(&b.pods),
        _ => Ordering::Equal,
    };
    by.then_with(|| a.name.cmp(&b.name))
}

fn state_style(state: NodeState, view: &View<'_>) -> ratatui::style::Style {
    match state {
        NodeState::Ready => view.theme.ok(),
        NodeState::Cordoned | NodeState::Draining | NodeState::Registered => view.theme.warning(),
        NodeState::NotReady | NodeState::Stale => view.theme.error(),
        NodeState::Unknown => view.theme.muted(),
    }
}

fn row<'a>(node: &NodeRow, view: &View<'_>) -> Row<'a> {
    let dash = || "-".to_owned();
    Row::new(vec![
        Cell::from(node.name.clone()),
        Cell::from(Span::styled(
            node.state.label(),
            state_style(node.state, view),
        )),
        Cell::from(node.owner.as_deref().map_or_else(dash, short)),
        Cell::from(node.stake.map_or_else(dash, |s| s.to_string())),
        Cell::from(node.heartbeat_age_secs.map_or_else(dash, format_span)),
        Cell::from(node.cpu.map_or_else(dash, |c| format!("{c:.0}"))),
        Cell::from(node.memory.map_or_else(dash, |m| format!("{m:.0}"))),
        Cell::from(node.pods.map_or_else(dash, |p| p.to_string())),
    ])
}

/// The drain dialog for `node`, with k9s's options.
pub fn drain_form(node: &str) -> Form {
    let defaults = DrainOptions::default();
    Form::new(
        format!("Drain {node}"),
        "cordon the node, then move its pods away",
        node,
        vec![
            Field::text("grace period (s)", "-1"),
            Field::text(
                "timeout (s, 0 = none)",
                defaults.timeout.map_or(0, |t| t.as_secs()).to_string(),
            ),
            Field::toggle("delete emptyDir data", defaults.delete_emptydir_data),
            Field::toggle("ignore DaemonSets", defaults.ignore_daemonsets),
            Field::toggle("force", defaults.force),
            Field::toggle("disable eviction", defaults.disable_eviction),
        ],
        |node, fields| {
            let grace: i64 = Form::text(fields, 0).parse().map_err(|_| {
                "grace period: a number of seconds, -1 for the pods' own".to_owned()
            })?;
            let timeout: u64 = Form::text(fields, 1)
                .parse()
                .map_err(|_| "timeout: a number of seconds".to_owned())?;
            let options = DrainOptions {
                grace_period: u32::try_from(grace).ok(),
                timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
                delete_emptydir_data: Form::toggle(fields, 2),
                ignore_daemonsets: Form::toggle(fields, 3),
                force: Form::toggle(fields, 4),
                disable_eviction: Form::toggle(fields, 5),
            };
            Ok(Action::Ask(Mutation::Drain(node.to_owned(), options)))
        },
    )
}

/// The slash proposal form for `node`'s seal token `token`.
pub fn propose_form(node: &str, token: &str) -> Form {
    Form::new(
        format!("Propose slashing {node}"),
        format!("seal token {token}; the evidence's SHA-256 goes on chain"),
        token,
        vec![Field::text("reason", ""), Field::text("evidence", "")],
        |token, fields| {
            let reason = Form::text(fields, 0);
            if reason.is_empty() {
                return Err("say why the stake should be slashed".to_owned());
            }
            let token = token
                .parse()
                .map_err(|_| format!("`{token}` is not a seal token id"))?;
            let evidence = Form::text(fields, 1);
            Ok(Action::Ask(Mutation::ProposeSlash {
                token,
                reason: if evidence.is_empty() {
                    reason.to_owned()
                } else {
                    format!("{reason} (evidence: {evidence})")
                },
            }))
        },
    )
}

impl Component for Nodes {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        if let Some(detail) = &mut self.detail {
            detail.draw(frame, area, view);
            return;
        }
        self.refresh_shown(view);
        let [filter_line, table_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
        let total = view.data.nodes.value.as_ref().map_or(0, |l| l.nodes.len());
        let sort = format!(
            "sort {}{}",
            COLUMNS[self.sort],
            if self.descending { "↓" } else { "↑" }
        );
        let mut spans = vec![
            Span::styled(
                format!(" {} of {total} nodes · {sort} · ", self.shown.len()),
                view.theme.muted(),
            ),
            Span::styled("/", view.theme.key()),
            Span::styled(
                format!(
                    "{}{}",
                    self.filter,
                    if self.editing_filter { "▏" } else { "" }
                ),
                view.theme.text(),
            ),
        ];
        if let Some(list) = &view.data.nodes.value {
            for error in [&list.master_error, &list.cluster_error]
                .into_iter()
                .flatten()
            {
                spans.push(Span::styled(format!("  {error}"), view.theme.warning()));
            }
            // Why the list is public says more than what that hides.
            let note = match (&list.public_because, list.hidden_owners_note()) {
                (Some(why), _) => Some(format!("  listed publicly: {why}")),
                (None, note) => note.map(|note| format!("  {note}")),
            };
            if let Some(note) = note {
                spans.push(Span::styled(note, view.theme.muted()));
            }
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), filter_line);
        let title = if self.filter.is_empty() {
            "Nodes".to_owned()
        } else {
            format!("Nodes /{}", self.filter)
        };
        if draw_load_state(
            frame,
            table_area,
            &view.data.nodes,
            "nodes",
            title.clone(),
            view.theme,
        ) {
            return;
        }
        let nodes = view
            .data
            .nodes
            .value
            .as_ref()
            .map_or(&[][..], |l| l.nodes.as_slice());
        let header = Row::new(COLUMNS.iter().enumerate().map(|(i, c)| {
            if i == self.sort {
                format!("{c}{}", if self.descending { "↓" } else { "↑" })
            } else {
                (*c).to_owned()
            }
        }));
        // As wide as the longest name shown (DNS labels: ASCII, at most
        // 63), so the other columns sit next to the names, not at the far
        // right of a wide terminal.
        let name_width = self
            .shown
            .iter()
            .map(|&i| nodes[i].name.len())
            .max()
            .unwrap_or(0)
            .clamp(NAME_MIN_WIDTH, MAX_NODE_NAME_LEN);
        let widths = [
            Constraint::Length(u16::try_from(name_width).unwrap_or(u16::MAX)),
            Constraint::Length(24),
            Constraint::Length(14),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(5),
        ];
        let shown = &self.shown;
        table::draw(
            frame,
            table_area,
            block(title, view.theme),
            view.theme,
            header,
            &widths,
            &mut self.cursor,
            shown.len(),
            |i| row(&nodes[shown[i]], view),
        );
    }

    fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action> {
        if let Some(detail) = &mut self.detail {
            if view.is(key, Binding::Back) {
                self.detail = None;
                return Some(Action::Status(String::new()));
            }
            return detail.on_key(key, view);
        }
        if self.editing_filter {
            self.on_filter_key(key, view);
            return Some(Action::Status(String::new()));
        }
        self.refresh_shown(view);
        if self.cursor.on_key(key, view, self.shown.len()) {
            return Some(Action::Status(String::new()));
        }
        if view.is(key, Binding::Filter) {
            self.editing_filter = true;
            return Some(Action::Status(
                "filter: type, enter to keep, esc to clear".to_owned(),
            ));
        }
        if view.is(key, Binding::Back) && !self.filter.is_empty() {
            self.filter.clear();
            self.cursor.reset();
            return Some(Action::Status(String::new()));
        }
        if view.is(key, Binding::Sort) {
            self.sort = (self.sort + 1) % COLUMNS.len();
            return Some(Action::Flash(format!("sorted by {}", COLUMNS[self.sort])));
        }
        if view.is(key, Binding::Reverse) {
            self.descending = !self.descending;
            return Some(Action::Status(String::new()));
        }
        let node = self.selected(view)?;
        if view.is(key, Binding::Open) {
            self.detail = Some(NodeDetail::new(node.name.clone()));
            return Some(Action::AgentMetrics(node.name.clone()));
        }
        if view.is(key, Binding::Cordon) {
            return Some(Action::Ask(Mutation::Cordon(node.name.clone(), true)));
        }
        if view.is(key, Binding::Uncordon) {
            return Some(Action::Ask(Mutation::Cordon(node.name.clone(), false)));
        }
        if view.is(key, Binding::Drain) {
            return Some(if view.readonly() {
                Action::Ask(Mutation::Drain(node.name.clone(), DrainOptions::default()))
            } else {
                Action::Form(drain_form(&node.name))
            });
        }
        if view.is(key, Binding::ProposeSlash) {
            let Some(token) = &node.seal_token else {
                return Some(Action::SlashNode(node.name.clone()));
            };
            return Some(if view.readonly() {
                Action::Ask(Mutation::ProposeSlash {
                    token: token.parse().ok()?,
                    reason: String::new(),
                })
            } else {
                Action::Form(propose_form(&node.name, token))
            });
        }
        None
    }

    fn commands(&self, view: &View<'_>) -> Vec<Command> {
        if let Some(detail) = &self.detail {
            return detail.commands(view);
        }
        vec![
            Command::read(Binding::Open, "details"),
            Command::read(Binding::Filter, "filter"),
            Command::read(Binding::Sort, "sort column"),
            Command::read(Binding::Reverse, "reverse sort"),
            Command::write(Binding::Cordon, "cordon"),
            Command::write(Binding::Uncordon, "uncordon"),
            Command::write(Binding::Drain, "drain"),
            Command::write(Binding::ProposeSlash, "propose slash"),
            Command::read(Binding::Top, "top"),
            Command::read(Binding::Bottom, "bottom"),
        ]
    }
}
