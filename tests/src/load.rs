//! Load on a running master's webhook listener with h2load (Debian's
//! `nghttp2-client`), over real sockets and TLS 1.3.
//!
//! The listener requires the API server's client certificate (mutual TLS),
//! which h2load cannot present, so h2load speaks HTTP/2 to a local `socat`
//! that opens one TLS 1.3 connection to the master per h2load connection
//! with the certificate from the master's webhook kubeconfig: the TLS
//! client work h2load would do is socat's instead, and the master's side
//! (TLS, HTTP/2, the handler) is exactly what the API server gets.
//!
//! h2load prints no percentiles, so each run writes its per-request log
//! (`--log-file`) and [`LoadReport`] computes them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::stack::MasterProcess;

/// The name in the webhook listener's certificate.
const WEBHOOK_SERVER_NAME: &str = "daas-master-webhook";

/// A TLS client bridge (socat) to a master's webhook listener, stopped on
/// drop.
pub struct WebhookBridge {
    socat: Child,
    port: u16,
    dir: TempDir,
}

impl WebhookBridge {
    /// Starts socat on a free loopback port, bridging plain HTTP/2 to the
    /// master's webhook listener with the API server's client certificate.
    ///
    /// # Errors
    /// The kubeconfig is unreadable or socat did not start.
    pub async fn start(master: &MasterProcess) -> anyhow::Result<Self> {
        let kubeconfig = std::fs::read_to_string(master.authentication_kubeconfig())
            .context("reading the master's webhook kubeconfig")?;
        let dir = tempfile::tempdir()?;
        for (field, file) in [
            ("certificate-authority-data", "ca.pem"),
            ("client-certificate-data", "client.pem"),
            ("client-key-data", "client.key"),
        ] {
            let pem = kubeconfig_value(&kubeconfig, field)?;
            daas_core::private_file::write_atomic(&dir.path().join(file), &pem)?;
        }
        let port = free_port()?;
        let target = master
            .webhook_url()
            .trim_start_matches("https://")
            .to_owned();
        let path = |file: &str| dir.path().join(file).display().to_string();
        // Both sides without Nagle's algorithm, as the API server's client
        // and the master are: with it, a TokenReview's body, written after
        // its headers, waited for the master's delayed ACK (a 40 ms p99).
        let socat = Command::new("socat")
            .arg(format!(
                "TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,backlog=256,nodelay"
            ))
            // The listener speaks TLS 1.3 only (socat 1.7 has no option
            // to require it).
            .arg(format!(
                "OPENSSL:{target},cert={},key={},cafile={},commonname={WEBHOOK_SERVER_NAME},\
                 verify=1,nodelay",
                path("client.pem"),
                path("client.key"),
                path("ca.pem"),
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting socat (apt-get install socat)")?;
        let bridge = Self { socat, port, dir };
        bridge.wait_listening().await?;
        Ok(bridge)
    }

    /// `http://127.0.0.1:PORT` + `path`, through the bridge.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A file in the bridge's private directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn wait_listening(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("socat did not listen on port {} within 10 s", self.port)
    }
}

impl Drop for WebhookBridge {
    fn drop(&mut self) {
        // kill_on_drop sends SIGKILL to socat; its forked children exit
        // when their connections close.
        let _ = self.socat.start_kill();
    }
}

/// A value of a kubeconfig field (`name: base64`), decoded.
fn kubeconfig_value(kubeconfig: &str, field: &str) -> anyhow::Result<Vec<u8>> {
    let prefix = format!("{field}:");
    let encoded = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix(&prefix))
        .with_context(|| format!("no {field} in the webhook kubeconfig"))?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .with_context(|| format!("{field} is not base64"))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One h2load run.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Full URL (through the bridge).
    pub url: String,
    /// A file whose contents are POSTed, or `None` for GET.
    pub body: Option<PathBuf>,
    /// Connections (`-c`).
    pub connections: usize,
    /// Streams in flight per connection (`-m`).
    pub streams: usize,
    /// How long (`-D`), after a warm-up (`--warm-up-time`).
    pub duration: Duration,
    /// Requests per second per connection (`--rps`), or as fast as it goes.
    pub rate_per_connection: Option<u32>,
}

/// What an h2load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Requests done in the measured window.
    pub requests: u64,
    /// Requests answered 2xx.
    pub succeeded: u64,
    /// Requests that failed, errored, timed out or were not 2xx.
    pub failed: u64,
    /// Requests per second.
    pub per_second: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// h2load's own summary, for the message of a failed run.
    pub summary: String,
}

impl LoadRun {
    /// Runs h2load and reads its summary and per-request log.
    ///
    /// # Errors
    /// h2load is missing or failed, or its output is unreadable.
    pub async fn run(&self, log_dir: &Path) -> anyhow::Result<LoadReport> {
        let log = log_dir.join(format!("h2load-{}.log", std::process::id()));
        let mut command = Command::new("h2load");
        command
            .arg("-c")
            .arg(self.connections.to_string())
            .arg("-m")
            .arg(self.streams.to_string())
            .arg("-t")
            .arg("1")
            .arg("-D")
            .arg(self.duration.as_secs().max(1).to_string())
            .arg("--warm-up-time=1")
            .arg("--log-file")
            .arg(&log)
            .arg("-H")
            .arg("content-type: application/json");
        if let Some(body) = &self.body {
            command.arg("-d").arg(body);
        }
        if let Some(rate) = self.rate_per_connection {
            command.arg("--rps").arg(rate.to_string());
        }
        let output = command
            .arg(&self.url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .context("running h2load (apt-get install nghttp2-client)")?;
        let summary = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!("h2load failed: {summary}");
        }
        let requests = std::fs::read_to_string(&log).unwrap_or_default();
        let report = LoadReport::parse(&summary, &requests)?;
        // A run with failures keeps its per-request log (status per request).
        if report.failed == 0 {
            let _ = std::fs::remove_file(&log);
        }
        Ok(report)
    }
}

impl LoadReport {
    /// Reads h2load's summary (`requests:`, `status codes:` and `finished
    /// in` lines) and its per-request log (`start status duration_us`).
    fn parse(summary: &str, log: &str) -> anyhow::Result<Self> {
        let line = |start: &str| {
            summary
                .lines()
                .find(|line| line.trim_start().starts_with(start))
                .with_context(|| format!("no `{start}` line in h2load's output: {summary}"))
        };
        let numbers = |text: &str| -> Vec<f64> {
            text.split([' ', ','])
                .filter_map(|word| word.trim_end_matches("req/s").parse::<f64>().ok())
                .collect()
        };
        // requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout
        let counts = numbers(line("requests:")?);
        // status codes: N 2xx, N 3xx, N 4xx, N 5xx
        let statuses = numbers(line("status codes:")?);
        // finished in 5.00s, 31234.5 req/s, ...
        let finished = line("finished in")?;
        let per_second = finished
            .split(',')
            .find_map(|part| part.trim().strip_suffix(" req/s"))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .with_context(|| format!("no req/s in `{finished}`"))?;
        // h2load's `failed` holds the errored requests and those answered
        // 4xx or 5xx; a 3xx is no success here either. (Its status-code
        // tally can miss a request or two finished across the warm-up's
        // end, so `done - 2xx` is not a failure count.)
        let (Some(&done), Some(&h2_failed), Some(&timeout), Some(&redirects)) =
            (counts.get(2), counts.get(4), counts.get(6), statuses.get(1))
        else {
            bail!("unexpected h2load counts: {summary}");
        };
        let failed = h2_failed + timeout + redirects;
        let mut latencies: Vec<f64> = log
            .lines()
            .filter_map(|line| line.split_whitespace().nth(2)?.parse::<f64>().ok())
            .map(|micros| micros / 1000.0)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let percentile = |p: f64| -> f64 {
            if latencies.is_empty() {
                return f64::NAN;
            }
            let index = ((latencies.len() - 1) as f64 * p).round() as usize;
            latencies[index.min(latencies.len() - 1)]
        };
        Ok(Self {
            requests: done as u64,
            succeeded: (done - failed).max(0.0) as u64,
            failed: failed as u64,
            per_second,
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            summary: summary.to_owned(),
        })
    }
}

/// The resident set size of process `pid`, in KiB (`VmRSS`).
///
/// # Errors
/// The process is gone or its status unreadable.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// CPU time used so far: by one process (user and system time of all its
/// threads) and by the whole machine (every CPU's non-idle time), so a
/// run can say what share of the machine the measured process had.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    /// The process's CPU time.
    pub process: Duration,
    /// The machine's busy CPU time.
    pub machine: Duration,
}

impl CpuUse {
    /// Reads `/proc/PID/stat` and `/proc/stat` now.
    ///
    /// # Errors
    /// The process is gone or `/proc` is unreadable.
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces): state is
        // the first, utime and stime the 12th and 13th.
        let after_name = stat.rsplit_once(')').context("no `)` in /proc/PID/stat")?.1;
        let fields: Vec<u64> = after_name
            .split_whitespace()
            .skip(1)
            .map(|field| field.parse().unwrap_or(0))
            .collect();
        let process = fields.get(11).zip(fields.get(12)).map(|(u, s)| u + s);
        let machine = std::fs::read_to_string("/proc/stat")?;
        // cpu  user nice system idle iowait irq softirq steal …
        let busy = machine.lines().next().and_then(|line| {
            let ticks: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|field| field.parse().ok())
                .collect();
            let idle = ticks.get(3)? + ticks.get(4)?;
            Some(ticks.iter().take(8).sum::<u64>() - idle)
        });
        let (Some(process), Some(busy)) = (process, busy) else {
            bail!("unexpected /proc/{pid}/stat or /proc/stat");
        };
        let tick = |ticks: u64| {
            Duration::from_secs_f64(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
        };
        Ok(Self {
            process: tick(process),
            machine: tick(busy),
        })
    }

    /// What was used between `self` and `later`.
    pub fn until(&self, later: &Self) -> Self {
        Self {
            process: later.process.saturating_sub(self.process),
            machine: later.machine.saturating_sub(self.machine),
        }
    }
}

/// A staked user whose TokenReview the master authenticates.
pub struct StakedReview {
    /// The user's keys.
    pub account: crate::user::Account,
    /// Its seal token.
    pub seal: daas_core::package::SealTokenId,
    /// The TokenReview request body (JSON file).
    pub body: PathBuf,
    /// The master's answer to it.
    pub answer: serde_json::Value,
}

/// Stakes a new user (wallet seed `seed`) on the stack's devnet, writes a
/// TokenReview of its access token (the API server's request body, with
/// the cluster's audience) into the bridge's directory, and checks through
/// the bridge that the master authenticates it.
///
/// # Errors
/// Staking, signing or the check failed.
pub async fn staked_token_review(
    stack: &crate::stack::Stack,
    bridge: &WebhookBridge,
    seed: u8,
) -> anyhow::Result<StakedReview> {
    use daas_core::access::tokenreview::TokenReview;
    use daas_core::access::{AccessToken, Claims, unix_now_secs};
    use daas_core::package::{Mist, Role};

    let account = crate::user::Account::funded(&stack.devnet, seed).await?;
    let seal = stack
        .devnet
        .client()?
        .stake_and_mint(&account.chain, Mist::new(1_000_000_000), Role::User, "")
        .await?
        .token;
    let audience = stack.cluster.server();
    let claims = Claims::new(
        seal,
        account.address(),
        audience,
        unix_now_secs(),
        Duration::from_secs(900),
    )?;
    let token = AccessToken::sign(&account.wallet, &claims)?.into_string();
    let review = TokenReview::request(token, vec![audience.to_owned()]);
    let body = bridge.file("tokenreview.json");
    std::fs::write(&body, serde_json::to_vec(&review)?)?;
    let answer = bridge.post("/authenticate", &body).await?;
    if answer["status"]["authenticated"] != serde_json::Value::Bool(true) {
        bail!("the master did not authenticate the staked user's token: {answer}");
    }
    Ok(StakedReview {
        account,
        seal,
        body,
        answer,
    })
}

impl WebhookBridge {
    /// POSTs the JSON file `body` to `path` through the bridge (curl, HTTP/2)
    /// and returns the JSON answer.
    ///
    /// # Errors
    /// curl failed or the answer is not JSON.
    pub async fn post(&self, path: &str, body: &Path) -> anyhow::Result<serde_json::Value> {
        let output = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--http2-prior-knowledge", "-H"])
            .arg("content-type: application/json")
            .arg("--data-binary")
            .arg(format!("@{}", body.display()))
            .arg(self.url(path))
            .output()
            .await
            .context("running curl")?;
        let answer = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "POST {path}: curl failed ({}): {answer}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        serde_json::from_str(&answer).with_context(|| format!("POST {path}: not JSON: {answer}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2load_summary_and_log_are_read() {
        let summary = "finished in 5.00s, 31234.50 req/s, 9.1MB/s\n\
            requests: 156173 total, 156205 started, 156173 done, 156170 succeeded, 3 failed, 3 errored, 0 timeout\n\
            status codes: 156170 2xx, 0 3xx, 0 4xx, 0 5xx\n";
        let log = "1700000000000000\t200\t1000\n1700000000000001\t200\t3000\n1700000000000002\t200\t2000\n";
        let report = LoadReport::parse(summary, log).unwrap();
        assert_eq!(report.requests, 156_173);
        assert_eq!(report.succeeded, 156_170);
        assert_eq!(report.failed, 3);
        assert!((report.per_second - 31_234.5).abs() < 0.01);
        assert!((report.p50_ms - 2.0).abs() < 1e-9);
        assert!((report.p99_ms - 3.0).abs() < 1e-9);

        // Two requests missing from the status tally are not failures.
        let summary = "finished in 11.00s, 31261.40 req/s, 16.93MB/s\n\
            requests: 312614 total, 312614 started, 312614 done, 312614 succeeded, 0 failed, 0 errored, 0 timeout\n\
            status codes: 312612 2xx, 0 3xx, 0 4xx, 0 5xx\n";
        let report = LoadReport::parse(summary, log).unwrap();
        assert_eq!((report.succeeded, report.failed), (312_614, 0));
        let summary = summary
            .replace("0 failed", "5 failed")
            .replace("0 3xx", "1 3xx");
        assert_eq!(LoadReport::parse(&summary, log).unwrap().failed, 6);
    }
}
