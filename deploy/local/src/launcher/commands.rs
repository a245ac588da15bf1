//! `down`, `status` and `reset`: what is done to a stack from outside it.

use std::time::Duration;

use anyhow::ensure;

use crate::launcher::layout::Layout;
use crate::launcher::{LocalError, lock};

/// How long a launcher may take to stop its processes.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Stops the running launcher (SIGTERM, then SIGKILL after
/// [`STOP_TIMEOUT`]) and whatever its processes left; a stack that is not
/// running only has stale pid files cleaned.
///
/// # Errors
/// The lock could not be read or the launcher could not be signalled.
pub async fn down(layout: &Layout) -> anyhow::Result<()> {
    if !lock::is_running(layout)? {
        report_stale(&lock::clean_stale(layout));
        println!(
            "the local stack is not running ({})",
            layout.root().display()
        );
        return Ok(());
    }
    let Some(pid) = lock::launcher_pid(layout) else {
        // A launcher that is just starting or exiting holds the lock
        // without a live pid file for a moment.
        wait_unlocked(layout).await?;
        ensure!(
            !lock::is_running(layout)?,
            "the stack is locked but launcher.pid names no live process"
        );
        report_stale(&lock::clean_stale(layout));
        println!(
            "the local stack is stopped; its state is kept in {}",
            layout.root().display()
        );
        return Ok(());
    };
    lock::terminate(pid)?;
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    while lock::is_running(layout)? {
        if tokio::time::Instant::now() >= deadline {
            lock::kill(pid)?;
            wait_unlocked(layout).await?;
            lock::clean_stale(layout);
            return Err(LocalError::StopTimeout(pid).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report_stale(&lock::clean_stale(layout));
    println!(
        "the local stack is stopped; its state is kept in {}",
        layout.root().display()
    );
    Ok(())
}

async fn wait_unlocked(layout: &Layout) -> anyhow::Result<()> {
    for _ in 0..100 {
        if !lock::is_running(layout)? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Prints whether the stack runs and which of its processes are alive,
/// and while it runs where everything is (as `up` printed it).
///
/// # Errors
/// The lock could not be read.
pub fn status(layout: &Layout) -> anyhow::Result<()> {
    let running = lock::is_running(layout)?;
    let state = if layout.root().exists() {
        "kept"
    } else {
        "none"
    };
    match (running, lock::launcher_pid(layout)) {
        (true, Some(pid)) => println!(
            "running (launcher pid {pid}); state in {}",
            layout.root().display()
        ),
        (true, None) => println!("starting or stopping; state in {}", layout.root().display()),
        (false, _) => println!("not running; state: {state} ({})", layout.root().display()),
    }
    for (name, pid) in lock::live_groups(layout) {
        println!("  {name:<28} pid {pid}");
    }
    if running && let Ok(summary) = std::fs::read_to_string(layout.summary_file()) {
        println!("\n{summary}");
    }
    Ok(())
}

/// Stops the stack if it runs, then deletes the state directory.
///
/// # Errors
/// Stopping or deleting failed.
pub async fn reset(layout: &Layout) -> anyhow::Result<()> {
    if lock::is_running(layout)? {
        down(layout).await?;
    } else {
        report_stale(&lock::clean_stale(layout));
    }
    match std::fs::remove_dir_all(layout.root()) {
        Ok(()) => println!("deleted {}", layout.root().display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("nothing to delete at {}", layout.root().display());
        }
        Err(e) => {
            return Err(LocalError::Io {
                path: layout.root().to_owned(),
                source: e,
            }
            .into());
        }
    }
    Ok(())
}

/// Says which processes of a crashed stack were stopped.
pub fn report_stale(killed: &[String]) {
    if !killed.is_empty() {
        eprintln!(
            "stopped what a crashed launcher left running: {}",
            killed.join(", ")
        );
    }
}
