//! Load on a running master's webhook listener over real sockets, TLS 1.3
//! and HTTP/2, as the API server calls it: with the API server's client
//! certificate from the master's webhook kubeconfig (mutual TLS).
//!
//! [`WebhookClient`] is the load generator: `h2` connections from this
//! process, each either as fast as it goes with a number of streams in
//! flight (a closed loop, like h2load's `-m`) or starting requests at a
//! fixed rate (an open loop, like h2load's `--rps`). It runs in the bench's
//! or test's own runtime; on a small machine shared with the master, the
//! cheaper the generator, the more requests per second measure the master.
//! (h2load cannot present a client certificate; bridged through socat, on
//! the same 2-core machine and master, `/healthz` reached 47–51k/s against
//! 73–77k/s from this generator on one thread.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use h2::client::SendRequest;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_rustls::TlsConnector;

use crate::stack::MasterProcess;
use crate::webhook::WebhookKubeconfig;

/// Requests finished in the first second of a run are not counted (TLS
/// handshakes, the master's caches and allocator warming up).
pub const WARM_UP: Duration = Duration::from_secs(1);
/// A request not answered within this is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP/2 client of a master's webhook listener with the API server's
/// client certificate.
#[derive(Clone)]
pub struct WebhookClient {
    tls: TlsConnector,
    server_name: ServerName<'static>,
    /// `127.0.0.1:PORT`.
    address: String,
}

impl WebhookClient {
    /// A client of `master`'s webhook listener, with the certificates of
    /// its TokenReview webhook kubeconfig.
    ///
    /// # Errors
    /// The kubeconfig is unreadable or its certificates are not valid.
    pub fn new(master: &MasterProcess) -> anyhow::Result<Self> {
        let kubeconfig = WebhookKubeconfig::read(&master.authentication_kubeconfig())?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(&kubeconfig.ca_pem)?)?;
        let certificates = CertificateDer::pem_slice_iter(&kubeconfig.client_certificate_pem)
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(&kubeconfig.client_key_pem)?;
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(certificates, key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        // The webhook's URL (`https://HOST:PORT/authenticate`): its
        // listener is HOST:PORT.
        let server: Uri = kubeconfig.server.parse()?;
        let address = server
            .authority()
            .filter(|_| server.scheme_str() == Some("https"))
            .with_context(|| format!("the webhook server {server} is not https://HOST:PORT"))?
            .to_string();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            server_name: ServerName::try_from(kubeconfig.tls_server_name)?,
            address,
        })
    }

    /// Opens one TLS 1.3 HTTP/2 connection (without Nagle's algorithm, as
    /// the API server's client and the master have it).
    async fn connect(&self) -> anyhow::Result<SendRequest<Bytes>> {
        let tcp = TcpStream::connect(&self.address)
            .await
            .with_context(|| format!("connecting to the webhook listener {}", self.address))?;
        tcp.set_nodelay(true)?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .context("TLS handshake with the webhook listener")?;
        let (client, connection) = h2::client::handshake(tls).await?;
        // Ends when every handle to the connection is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Opens one connection, for requests that must share it.
    ///
    /// # Errors
    /// The connection could not be opened.
    pub async fn open(&self) -> anyhow::Result<WebhookConnection> {
        Ok(WebhookConnection {
            address: self.address.clone(),
            client: self.connect().await?,
        })
    }

    /// POSTs the JSON `body` to `path` on a new connection and returns the
    /// JSON answer.
    ///
    /// # Errors
    /// The request failed, was not answered 2xx, or the answer is not JSON.
    pub async fn post(&self, path: &str, body: Bytes) -> anyhow::Result<serde_json::Value> {
        let request = Exchange::new(&self.address, path, Some(body))?;
        let (status, answer) = request.send(self.connect().await?).await?;
        let text = String::from_utf8_lossy(&answer);
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        serde_json::from_slice(&answer).with_context(|| format!("POST {path}: not JSON: {text}"))
    }

    /// Runs `run`: [`WARM_UP`], then `run.duration` measured.
    ///
    /// # Errors
    /// A connection could not be opened.
    pub async fn run(&self, run: &LoadRun) -> anyhow::Result<LoadReport> {
        let exchange = Arc::new(Exchange::new(&self.address, &run.path, run.body.clone())?);
        let started = Instant::now();
        let window = Window {
            start: started + WARM_UP,
            end: started + WARM_UP + run.duration,
        };
        let mut tasks = JoinSet::new();
        for _ in 0..run.connections {
            let client = self.connect().await?;
            match run.pace {
                Pace::Streams(streams) => {
                    for _ in 0..streams {
                        tasks.spawn(closed_loop(client.clone(), Arc::clone(&exchange), window));
                    }
                }
                Pace::PerSecond(rate) => {
                    tasks.spawn(fixed_rate(client, Arc::clone(&exchange), window, rate));
                }
            }
        }
        let mut tally = Tally::default();
        while let Some(done) = tasks.join_next().await {
            tally.merge(done?);
        }
        Ok(LoadReport::new(tally, run.duration))
    }
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// The path, e.g. `/authenticate`.
    pub path: String,
    /// A JSON body to POST, or `None` for GET.
    pub body: Option<Bytes>,
    /// Connections, each opened before the run.
    pub connections: usize,
    /// How each connection sends.
    pub pace: Pace,
    /// How long is measured, after [`WARM_UP`].
    pub duration: Duration,
}

/// How a connection sends its requests.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as it goes, this many requests in flight (each stream sends
    /// its next request when its answer is in).
    Streams(usize),
    /// A request started every 1/N s, answered or not.
    PerSecond(u32),
}

/// The measured window of a run: requests finished in it count.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn holds(&self, finished: Instant) -> bool {
        self.start <= finished && finished <= self.end
    }
}

/// One request, sent again and again.
/// One open connection to a master's webhook listener.
pub struct WebhookConnection {
    address: String,
    client: SendRequest<Bytes>,
}

impl WebhookConnection {
    /// GETs `path` on this connection and returns the status.
    ///
    /// # Errors
    /// The request failed (the connection was closed, among others).
    pub async fn get(&self, path: &str) -> anyhow::Result<StatusCode> {
        let exchange = Exchange::new(&self.address, path, None)?;
        let (status, _) = exchange.send(self.client.clone()).await?;
        Ok(status)
    }
}

struct Exchange {
    method: Method,
    uri: Uri,
    body: Option<Bytes>,
}

impl Exchange {
    fn new(address: &str, path: &str, body: Option<Bytes>) -> anyhow::Result<Self> {
        let method = if body.is_some() {
            Method::POST
        } else {
            Method::GET
        };
        let uri = format!("https://{address}{path}")
            .parse()
            .with_context(|| format!("bad webhook path {path}"))?;
        Ok(Self { method, uri, body })
    }

    /// Sends the request on `client` and reads the whole answer.
    async fn send(&self, client: SendRequest<Bytes>) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let mut client = client.ready().await?;
        let request = Request::builder()
            .method(self.method.clone())
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(())?;
        let (response, mut stream) = client.send_request(request, self.body.is_none())?;
        if let Some(body) = &self.body {
            stream.send_data(body.clone(), true)?;
        }
        let response = response.await?;
        let status = response.status();
        let mut body = response.into_body();
        let mut answer = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
            answer.extend_from_slice(&chunk);
        }
        Ok((status, answer))
    }

    /// Sends the request and times it: when it finished, how long it took,
    /// and whether it was answered 2xx.
    async fn timed(&self, client: SendRequest<Bytes>) -> (Instant, Duration, anyhow::Result<()>) {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, self.send(client)).await {
            Ok(Ok((status, _))) if status.is_success() => Ok(()),
            Ok(Ok((status, answer))) => Err(anyhow::anyhow!(
                "{status}: {}",
                String::from_utf8_lossy(&answer)
            )),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}")),
        };
        let finished = Instant::now();
        (finished, finished - started, outcome)
    }
}

/// One stream: the next request as soon as the last is answered. A failed
/// request ends the stream (the connection is likely broken).
async fn closed_loop(client: SendRequest<Bytes>, exchange: Arc<Exchange>, window: Window) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < window.end {
        let (finished, took, outcome) = exchange.timed(client.clone()).await;
        let failed = outcome.is_err();
        if window.holds(finished) || failed {
            tally.record(took, outcome);
        }
        if failed {
            break;
        }
    }
    tally
}

/// One connection at `rate` requests per second until the window ends,
/// catching up on ticks it missed; then waits for the answers.
async fn fixed_rate(
    client: SendRequest<Bytes>,
    exchange: Arc<Exchange>,
    window: Window,
    rate: u32,
) -> Tally {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut in_flight = JoinSet::new();
    let mut tally = Tally::default();
    loop {
        tokio::select! {
            _ = ticks.tick(), if Instant::now() < window.end => {
                let (client, exchange) = (client.clone(), Arc::clone(&exchange));
                in_flight.spawn(async move { exchange.timed(client).await });
            }
            Some(done) = in_flight.join_next() => {
                let (finished, took, outcome) = done.unwrap_or_else(|error| {
                    (Instant::now(), Duration::ZERO, Err(error.into()))
                });
                if window.holds(finished) || outcome.is_err() {
                    tally.record(took, outcome);
                }
            }
            else => return tally,
        }
    }
}

/// What some requests measured.
#[derive(Debug, Default)]
struct Tally {
    micros: Vec<u32>,
    succeeded: u64,
    failed: u64,
    first_failure: Option<String>,
}

impl Tally {
    fn record(&mut self, took: Duration, outcome: anyhow::Result<()>) {
        match outcome {
            Ok(()) => {
                self.succeeded += 1;
                self.micros
                    .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
            }
            Err(error) => {
                self.failed += 1;
                self.first_failure
                    .get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }

    fn merge(&mut self, other: Self) {
        self.micros.extend(other.micros);
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Requests finished in the measured window (and failures at any time).
    pub requests: u64,
    /// Requests answered 2xx.
    pub succeeded: u64,
    /// Requests that failed, timed out or were not answered 2xx.
    pub failed: u64,
    /// Requests per second.
    pub per_second: f64,
    /// Median latency of the successful requests, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// The first failure, for the message of a failed run.
    pub first_failure: Option<String>,
}

impl LoadReport {
    fn new(mut tally: Tally, duration: Duration) -> Self {
        tally.micros.sort_unstable();
        let percentile = |p: f64| -> f64 {
            let Some(last) = tally.micros.len().checked_sub(1) else {
                return f64::NAN;
            };
            let index = (last as f64 * p).round() as usize;
            f64::from(tally.micros[index.min(last)]) / 1000.0
        };
        let requests = tally.succeeded + tally.failed;
        Self {
            requests,
            succeeded: tally.succeeded,
            failed: tally.failed,
            per_second: tally.succeeded as f64 / duration.as_secs_f64(),
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            first_failure: tally.first_failure,
        }
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
        let process = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let machine = std::fs::read_to_string("/proc/stat")?;
        let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
        let (process, busy) = Self::ticks(&process, &machine)
            .with_context(|| format!("unexpected /proc/{pid}/stat or /proc/stat"))?;
        let tick = |ticks: u64| Duration::from_secs_f64(ticks as f64 / ticks_per_second);
        Ok(Self {
            process: tick(process),
            machine: tick(busy),
        })
    }

    /// The process's user and system ticks (all its threads) from its
    /// `/proc/PID/stat`, and the machine's non-idle ticks from `/proc/stat`.
    fn ticks(process: &str, machine: &str) -> Option<(u64, u64)> {
        // The fields after the command name (which may hold spaces and
        // parentheses) start at the 3rd, state; utime and stime are the
        // 14th and 15th (proc(5)).
        let after_name = process.rsplit_once(')')?.1;
        let mut fields = after_name.split_whitespace().skip(14 - 3);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        // cpu  user nice system idle iowait irq softirq steal …
        let ticks: Vec<u64> = machine
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        let all: u64 = ticks.iter().take(8).sum();
        let idle = ticks.get(3)? + ticks.get(4)?;
        Some((utime + stime, all.checked_sub(idle)?))
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
    /// The TokenReview request body (JSON).
    pub body: Bytes,
    /// The master's answer to it.
    pub answer: serde_json::Value,
}

/// Stakes a new user (wallet seed `seed`) on the stack's devnet, makes the
/// TokenReview of its access token (the API server's request body, with
/// the cluster's audience), and checks that the master authenticates it.
///
/// # Errors
/// Staking, signing or the check failed.
pub async fn staked_token_review(
    stack: &crate::stack::Stack,
    client: &WebhookClient,
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
    let body = Bytes::from(serde_json::to_vec(&review)?);
    let answer = client.post("/authenticate", body.clone()).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_count_the_window_and_take_percentiles_of_successes() {
        let mut tally = Tally::default();
        for micros in [1000, 3000, 2000] {
            tally.record(Duration::from_micros(micros), Ok(()));
        }
        tally.record(Duration::from_micros(9), Err(anyhow::anyhow!("503: down")));
        let mut other = Tally::default();
        other.record(Duration::from_micros(10), Err(anyhow::anyhow!("reset")));
        tally.merge(other);
        let report = LoadReport::new(tally, Duration::from_secs(2));
        assert_eq!(
            (report.requests, report.succeeded, report.failed),
            (5, 3, 2)
        );
        assert!((report.per_second - 1.5).abs() < 1e-9);
        assert!((report.p50_ms - 2.0).abs() < 1e-9);
        assert!((report.p99_ms - 3.0).abs() < 1e-9);
        assert_eq!(report.first_failure.as_deref(), Some("503: down"));

        let empty = LoadReport::new(Tally::default(), Duration::from_secs(1));
        assert_eq!(empty.requests, 0);
        assert!(empty.p99_ms.is_nan());
    }

    #[test]
    fn cpu_use_reads_user_and_system_time_of_the_process() {
        // proc(5): pid (comm) state ppid pgrp session tty tpgid flags
        // minflt cminflt majflt cmajflt utime stime cutime cstime …
        let process = "4242 (daas (master) x) S 1 4242 4242 0 -1 4194560 \
                       900 0 3 0 1500 700 11 13 20 0 9 0 100 1000 200";
        let machine = "cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 50 2 25 500 10 1 3 1 0 0\n";
        assert_eq!(CpuUse::ticks(process, machine), Some((2200, 167)));
        assert_eq!(CpuUse::ticks("4242 (cut", machine), None);
        assert_eq!(CpuUse::ticks(process, "intr 1 2 3\n"), None);
    }

    #[test]
    fn the_window_holds_only_what_finished_inside_it() {
        let start = Instant::now();
        let window = Window {
            start: start + WARM_UP,
            end: start + WARM_UP + Duration::from_secs(1),
        };
        assert!(!window.holds(start));
        assert!(window.holds(start + WARM_UP));
        assert!(window.holds(window.end));
        assert!(!window.holds(window.end + Duration::from_millis(1)));
    }
}
