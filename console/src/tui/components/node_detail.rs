//! One node: everything the master and the API server say, and its live
//! metrics from its agent's API, reached over HTTPS pinned to the key the
//! attested master relays (asked for when the view opens; until the
//! answer, and when there is none, the live section says so and why).

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Command, Component, View, block, bytes};
use crate::ops::nodes::NodeRow;
use crate::tui::action::Action;
use crate::tui::keys::Binding;
use daas_core::clock::format_span;

/// The detail view of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDetail {
    node: String,
}

impl NodeDetail {
    /// The view of `node`.
    pub fn new(node: String) -> Self {
        Self { node }
    }

    /// The live section: the agent's figures, or why there are none.
    fn live(&self, view: &View<'_>) -> Vec<Line<'static>> {
        let theme = view.theme;
        let agent = &view.data.agent;
        match (&agent.value, &agent.error) {
            (_, Some(error)) => vec![Line::styled(
                format!("agent not reachable: {error}"),
                theme.warning(),
            )],
            (Some(live), None) if live.node == self.node => {
                let m = &live.metrics;
                let field = |label: &str, value: String| {
                    Line::from(vec![
                        Span::styled(format!("{label:<18}"), theme.header()),
                        Span::styled(value, theme.text()),
                    ])
                };
                vec![
                    field("agent", live.agent_api.url.clone()),
                    field("cpu", format!("{:.1} %", m.cpu_usage)),
                    field("memory", format!("{:.1} %", m.memory_usage)),
                    field("pods", m.pod_count.to_string()),
                    field("containers", m.container_count.to_string()),
                    field(
                        "network rx/tx",
                        format!("{} / {}", bytes(m.network_rx), bytes(m.network_tx)),
                    ),
                ]
            }
            _ => vec![Line::styled("asking the agent…", theme.text())],
        }
    }

    fn lines(row: &NodeRow, view: &View<'_>) -> Vec<Line<'static>> {
        let theme = view.theme;
        let field = |label: &str, value: String| {
            Line::from(vec![
                Span::styled(format!("{label:<18}"), theme.header()),
                Span::styled(value, theme.text()),
            ])
        };
        let dash = || "-".to_owned();
        vec![
            field("status", row.state.label().to_owned()),
            field("schedulable", (!row.unschedulable).to_string()),
            field("seal token", row.seal_token.clone().unwrap_or_else(dash)),
            field("owner", row.owner.clone().unwrap_or_else(dash)),
            field("stake", row.stake.map_or_else(dash, |s| s.to_string())),
            field(
                "address",
                if row.ip.is_empty() {
                    dash()
                } else {
                    row.ip.clone()
                },
            ),
            field(
                "last heartbeat",
                row.heartbeat_age_secs
                    .map_or_else(dash, |s| format!("{} ago", format_span(s))),
            ),
            field("cpu", row.cpu.map_or_else(dash, |c| format!("{c:.1} %"))),
            field(
                "memory",
                row.memory.map_or_else(dash, |m| format!("{m:.1} %")),
            ),
            field("pods", row.pods.map_or_else(dash, |p| p.to_string())),
            field(
                "known to",
                match (row.in_master, row.in_cluster) {
                    (true, true) => "master and API server",
                    (true, false) => "master only (not in the API server)",
                    (false, true) => "API server only (not admitted by the master)",
                    (false, false) => "nobody",
                }
                .to_owned(),
            ),
        ]
    }
}

impl Component for NodeDetail {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let row = view
            .data
            .nodes
            .value
            .as_ref()
            .and_then(|l| l.nodes.iter().find(|n| n.name == self.node));
        let [info, live] =
            Layout::vertical([Constraint::Length(13), Constraint::Min(3)]).areas(area);
        let lines = match row {
            Some(row) => Self::lines(row, view),
            None => vec![Line::styled("the node is gone", theme.warning())],
        };
        frame.render_widget(
            Paragraph::new(lines).block(block(format!("Node {}", self.node), theme)),
            info,
        );
        frame.render_widget(
            Paragraph::new(self.live(view))
                .wrap(Wrap { trim: true })
                .block(block("Live metrics (agent)", theme)),
            live,
        );
    }

    fn on_key(&mut self, _key: &KeyEvent, _view: &View<'_>) -> Option<Action> {
        None
    }

    fn commands(&self, _view: &View<'_>) -> Vec<Command> {
        vec![Command::read(Binding::Back, "back to the list")]
    }
}
