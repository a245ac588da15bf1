//! An error and its causes on one line, as the binaries print them.
//!
//! Many errors here show their source in their own message (so a screen
//! that shows only `{error}` says everything) and also return it from
//! `source()`. Printing the whole chain (`{error:#}`) would then say each
//! such cause twice; [`one_line`] says it once.
//!
//! A gRPC `Status` reads as its message and its root cause (its own
//! rendering dumps its code and its source's `Debug`), and an HTTP
//! transport failure as its root cause ([`transport_cause`]).
//!
//! With the `kube` feature, a Kubernetes API refusal anywhere in the chain
//! reads as the API server's message, HTTP code and reason, instead of
//! kube's rendering, which repeats the message inside a dump of the whole
//! `Status`; a request with no answer reads as its root cause.

use std::error::Error;

/// `error: cause: cause …`, leaving out each cause that the line already
/// ends with.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = String::new();
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(causes) = readable_causes(current) {
            // What lies below is what the readable causes say.
            push_readable(&mut line, current, &causes);
            break;
        }
        push_cause(&mut line, &current.to_string());
        next = current.source();
    }
    line
}

/// Appends `causes`, read in place of `error`'s own rendering, which an
/// earlier message of the line may embed: it is replaced there.
fn push_readable(line: &mut String, error: &(dyn Error + 'static), causes: &[String]) {
    let rendered = error.to_string();
    let readable = causes.join(": ");
    if !rendered.is_empty() {
        *line = line.replace(&rendered, &readable);
    }
    if !line.ends_with(&readable) {
        causes.iter().for_each(|cause| push_cause(line, cause));
    }
}

/// What a person reads for an error whose own rendering is noise, cause
/// by cause: a gRPC status's message and root cause (it dumps its code
/// and its source's `Debug`), an HTTP transport failure's root cause
/// (reqwest repeats the URL its caller names), a Kubernetes refusal's
/// message and code (kube dumps the whole `Status`), a Kubernetes client's
/// transport failure as its root cause.
fn readable_causes(error: &(dyn Error + 'static)) -> Option<Vec<String>> {
    if let Some(status) = grpc_status(error) {
        let root = root_cause(error).map(ToString::to_string);
        return Some(
            std::iter::once(status.message().to_owned())
                .chain(root)
                .collect(),
        );
    }
    if let Some(failed) = error.downcast_ref::<reqwest::Error>() {
        return Some(vec![transport_cause(failed)]);
    }
    kube_readable(error).map(|readable| vec![readable])
}

/// Appends `text` to `line` as its next cause, unless the line already
/// ends with it.
fn push_cause(line: &mut String, text: &str) {
    if line.is_empty() {
        text.clone_into(line);
    } else if !text.is_empty() && !line.ends_with(text) {
        line.push_str(": ");
        line.push_str(text);
    }
}

/// Why an HTTP request got no answer, in a few words: its root cause
/// (`Connection refused (os error 111)`, a TLS refusal), or that it timed
/// out; not reqwest's rendering, which repeats the URL.
pub fn transport_cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    root_cause(error).map_or_else(|| error.to_string(), ToString::to_string)
}

/// `error` as a gRPC status, boxed or not (errors keep it boxed).
fn grpc_status<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a tonic::Status> {
    error.downcast_ref::<tonic::Status>().or_else(|| {
        error
            .downcast_ref::<Box<tonic::Status>>()
            .map(AsRef::as_ref)
    })
}

/// The innermost source of `error`, if it has one.
fn root_cause<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a (dyn Error + 'static)> {
    let mut root = error.source()?;
    while let Some(deeper) = root.source() {
        root = deeper;
    }
    Some(root)
}

/// A Kubernetes client error as a person reads it: a refusal as the API
/// server's message, HTTP code and reason; a request with no answer as its
/// root cause (kube's rendering nests `ServiceError: client error
/// (Connect): …`).
#[cfg(feature = "kube")]
fn kube_readable(error: &(dyn Error + 'static)) -> Option<String> {
    match error.downcast_ref::<kube::Error>()? {
        kube::Error::Api(status) => Some(format!(
            "{} (HTTP {} {})",
            status.message, status.code, status.reason
        )),
        kube::Error::Service(_) | kube::Error::HyperError(_) => {
            root_cause(error).map(ToString::to_string)
        }
        _ => None,
    }
}

#[cfg(not(feature = "kube"))]
fn kube_readable(_error: &(dyn Error + 'static)) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("transaction aborted: EUnbondingNotOver")]
        Aborted,
    }

    #[derive(Debug, thiserror::Error)]
    enum Shown {
        /// Shows its source and returns it.
        #[error("chain: {0}")]
        Chain(#[from] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("reading /etc/x")]
    struct Hidden(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("withdraw")]
    struct Action(#[source] Shown);

    #[test]
    fn a_grpc_failure_reads_as_its_message_and_root_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("chain RPC GetObject failed: {}", .0.message())]
        struct Rpc(#[source] Box<tonic::Status>);
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let mut status = tonic::Status::unavailable("tcp connect error");
        status.set_source(std::sync::Arc::new(refused));
        let line = one_line(&Rpc(Box::new(status)));
        assert_eq!(
            line,
            "chain RPC GetObject failed: tcp connect error: refused"
        );
        let bare = one_line(&tonic::Status::not_found("no such object"));
        assert_eq!(bare, "no such object");
    }

    #[tokio::test]
    async fn an_http_failure_reads_as_why_not_as_the_url_again() {
        #[derive(Debug, thiserror::Error)]
        #[error("request to {url} failed: {}", transport_cause(.source))]
        struct Transport {
            url: String,
            #[source]
            source: reqwest::Error,
        }
        // Nothing listens on port 1.
        let url = "http://127.0.0.1:1/healthz";
        let source = reqwest::get(url).await.unwrap_err();
        assert!(source.to_string().contains(url), "{source}");
        let line = one_line(&Transport {
            url: url.to_owned(),
            source,
        });
        assert!(
            line.starts_with("request to http://127.0.0.1:1/healthz failed: "),
            "{line}"
        );
        assert!(line.contains("refused"), "{line}");
        assert_eq!(line.matches(url).count(), 1, "{line}");
    }

    #[test]
    fn a_cause_the_message_shows_is_said_once() {
        let error = Action(Shown::from(Inner::Aborted));
        assert_eq!(
            one_line(&error),
            "withdraw: chain: transaction aborted: EUnbondingNotOver"
        );
    }

    #[cfg(feature = "kube")]
    #[test]
    fn a_kubernetes_refusal_is_said_once_without_its_dump() {
        #[derive(Debug, thiserror::Error)]
        enum Cordon {
            /// Shows its source, as many of the master's errors do.
            #[error("cordoning node nope: {0}")]
            Kube(#[from] kube::Error),
        }
        let refused = kube::Error::Api(
            kube::core::Status::failure("nodes \"nope\" not found", "NotFound")
                .with_code(404)
                .boxed(),
        );
        assert!(refused.to_string().contains("Status {"), "{refused}");
        let expected = "cordoning node nope: nodes \"nope\" not found (HTTP 404 NotFound)";
        assert_eq!(one_line(&Cordon::from(refused)), expected);

        #[derive(Debug, thiserror::Error)]
        #[error("listing nodes")]
        struct Listing(#[source] kube::Error);
        let refused = kube::Error::Api(
            kube::core::Status::failure("forbidden", "Forbidden")
                .with_code(403)
                .boxed(),
        );
        assert_eq!(
            one_line(&Listing(refused)),
            "listing nodes: forbidden (HTTP 403 Forbidden)"
        );
    }

    #[cfg(feature = "kube")]
    #[tokio::test]
    async fn a_kubernetes_request_with_no_answer_reads_as_why() {
        #[derive(Debug, thiserror::Error)]
        #[error("listing nodes: {0}")]
        struct Listing(#[source] kube::Error);
        // Nothing listens on port 1.
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let failed = client.apiserver_version().await.unwrap_err();
        assert!(failed.to_string().contains("ServiceError"), "{failed}");
        let line = one_line(&Listing(failed));
        assert!(line.starts_with("listing nodes: "), "{line}");
        assert!(line.contains("refused"), "{line}");
        assert!(!line.contains("ServiceError"), "{line}");
        assert_eq!(line.matches("listing nodes").count(), 1, "{line}");
    }

    #[test]
    fn a_cause_the_message_leaves_out_is_added() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(one_line(&Hidden(io)), "reading /etc/x: no such file");
    }
}
