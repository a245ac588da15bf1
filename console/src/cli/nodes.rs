//! `daas-console nodes …`.

use std::time::Duration;

use anyhow::bail;

use daas_core::api::nodes::HealthView;
use daas_core::clock::format_span;

use super::args::{DrainArgs, GlobalArgs, NodesCommand};
use super::output::{self, note, out};
use super::prompt::{TerminalUnlock, confirm};
use crate::ops::Context;
use crate::ops::drain::{self, DrainOptions, DrainProgress};
use crate::ops::nodes::{self as ops, ListAs, NodeList};
use crate::ops::unlock::GivenPassphrase;

/// Runs `daas-console nodes …`.
pub async fn run(global: &GlobalArgs, command: NodesCommand) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    match command {
        NodesCommand::List {
            stake,
            seal_token,
            public,
            json,
        } => {
            let mut list = match (seal_token, public) {
                (Some(token), _) => {
                    let token = token
                        .parse()
                        .map_err(|error| anyhow::anyhow!("--seal-token: {error}"))?;
                    let unlock = TerminalUnlock::of(&ctx);
                    ops::list(&ctx, ListAs::SealToken(token, &unlock)).await?
                }
                (None, true) => ops::list(&ctx, ListAs::Public).await?,
                (None, false) => list_as_widest(&ctx).await?,
            };
            if let (Some(master), Some(cluster)) = (&list.master_error, &list.cluster_error) {
                bail!("no view of the nodes: {master}; {cluster}");
            }
            if stake {
                ops::fill_stakes(&ctx, &mut list.nodes, &mut ops::StakeCache::default()).await?;
            }
            if json {
                return output::json(&list);
            }
            print_list(&list, stake)
        }
        NodesCommand::Cordon { node } => {
            ops::set_cordoned(&ctx, &node, true).await?;
            out!("node/{node} cordoned")?;
            Ok(())
        }
        NodesCommand::Uncordon { node } => {
            ops::set_cordoned(&ctx, &node, false).await?;
            out!("node/{node} uncordoned")?;
            Ok(())
        }
        NodesCommand::Metrics {
            node,
            seal_token,
            json,
        } => {
            let seal_token = seal_token
                .map(|token| token.parse())
                .transpose()
                .map_err(|error| anyhow::anyhow!("--seal-token: {error}"))?;
            let unlock = TerminalUnlock::of(&ctx);
            let view = ops::agent_metrics(&ctx, &node, seal_token, &unlock).await?;
            if json {
                return output::json(&view);
            }
            print_agent_metrics(&view)
        }
        NodesCommand::Drain(args) => {
            ctx.ensure_writable("drain")?;
            let options = options(&args);
            confirm(
                &format!(
                    "drain node {}: cordon it, then {} its pods{}{}{}",
                    args.node,
                    if options.disable_eviction {
                        "delete"
                    } else {
                        "evict"
                    },
                    if options.force {
                        ", unmanaged pods too"
                    } else {
                        ""
                    },
                    if options.delete_emptydir_data {
                        ", deleting emptyDir data"
                    } else {
                        ""
                    },
                    if options.ignore_daemonsets {
                        ", leaving DaemonSet pods"
                    } else {
                        ""
                    },
                ),
                "drain it?",
                global.yes,
            )?;
            let report = drain::drain(&ctx, &args.node, options, report_progress).await?;
            if args.json {
                return output::json(&report);
            }
            out!(
                "node/{} drained: {} pod(s) removed, {} left alone",
                report.node,
                report.removed.len(),
                report.skipped.len()
            )?;
            Ok(())
        }
    }
}

fn options(args: &DrainArgs) -> DrainOptions {
    DrainOptions {
        grace_period: args.grace_period,
        timeout: (args.drain_timeout > 0).then(|| Duration::from_secs(args.drain_timeout)),
        delete_emptydir_data: args.delete_emptydir_data,
        ignore_daemonsets: args.ignore_daemonsets,
        force: args.force,
        disable_eviction: args.disable_eviction,
    }
}

/// Progress goes to stderr, so stdout stays the result.
fn report_progress(progress: DrainProgress) {
    match progress {
        DrainProgress::Cordoned => note!("cordoned"),
        DrainProgress::Planned { remove, skipped } => {
            for (pod, why) in &skipped {
                note!("leaving {pod}: {why}");
            }
            note!("removing {} pod(s)", remove.len());
        }
        DrainProgress::Removing(pod) => note!("evicting {pod}"),
        DrainProgress::Blocked(pod) => {
            note!("{pod}: a disruption budget refuses for now; retrying");
        }
        DrainProgress::Remaining(count) => note!("{count} pod(s) left"),
    }
}

fn print_agent_metrics(view: &ops::AgentMetricsView) -> anyhow::Result<()> {
    let m = &view.metrics;
    out!(
        "node/{} (agent {}, TLS key sha256 {})",
        view.node,
        view.agent_api.url,
        view.agent_api.tls_spki_sha256
    )?;
    out!("cpu_usage       {:.1} %", m.cpu_usage)?;
    out!("memory_usage    {:.1} %", m.memory_usage)?;
    out!("pod_count       {}", m.pod_count)?;
    out!("container_count {}", m.container_count)?;
    out!("network_rx      {} B", m.network_rx)?;
    out!("network_tx      {} B", m.network_tx)?;
    out!("timestamp       {}", m.timestamp)?;
    Ok(())
}

/// Lists as the holder of the wallet's widest-viewing seal token when the
/// wallet signs without asking, else publicly, saying why: a read never
/// prompts for a passphrase.
async fn list_as_widest(ctx: &Context) -> anyhow::Result<NodeList> {
    let viewer = ops::ViewerToken::sign(ctx, &GivenPassphrase::of(ctx))
        .await
        .map_err(|why| why.to_string());
    Ok(ops::list_as_viewer(ctx, viewer.as_ref().map_err(Clone::clone)).await?)
}

/// The node list as a table; STAKE only when it was read (`--stake`).
fn print_list(list: &NodeList, with_stake: bool) -> anyhow::Result<()> {
    if let Some(error) = &list.master_error {
        note!("warning: {error}");
    }
    if let Some(error) = &list.cluster_error {
        note!("warning: {error}");
    }
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = list
        .nodes
        .iter()
        .map(|node| {
            let mut row = vec![
                node.name.clone(),
                node.state.label().to_owned(),
                node.heartbeat_age_secs.map_or_else(dash, format_span),
                node.cpu.map_or_else(dash, |c| format!("{c:.0}")),
                node.memory.map_or_else(dash, |m| format!("{m:.0}")),
                node.pods.map_or_else(dash, |p| p.to_string()),
            ];
            if with_stake {
                row.push(node.stake.map_or_else(dash, |s| s.to_string()));
            }
            row.push(node.owner.clone().unwrap_or_else(dash));
            row
        })
        .collect();
    let header: &[&str] = if with_stake {
        &[
            "NAME", "STATUS", "BEAT", "CPU%", "MEM%", "PODS", "STAKE", "OWNER",
        ]
    } else {
        &["NAME", "STATUS", "BEAT", "CPU%", "MEM%", "PODS", "OWNER"]
    };
    if rows.is_empty() {
        note!("no nodes");
    } else {
        output::table(header, &rows)?;
    }
    if let Some(why) = &list.public_because {
        note!("note: listed publicly: {why}");
    }
    if let Some(note) = list.hidden_owners_note() {
        note!("note: {note}");
        if list.master_view == Some(HealthView::Public) {
            note!("note: `nodes list --seal-token OBJECT_ID` lists as that seal token's holder");
        }
    }
    Ok(())
}
