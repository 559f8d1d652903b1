//! A webhook endpoint on loopback (hyper) that answers as told and records what it
//! received: every header (a repeated one's values joined by ", "), any body framing.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{
    body::{Bytes, Incoming},
    server::conn::http1,
    service::service_fn,
    Request, Response,
};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub enum Behaviour {
    Status(u16),
    /// Accepts the connection and never answers.
    Hang,
    /// Answers these in turn (status, Retry-After), then repeats the last.
    Script(Vec<(u16, Option<&'static str>)>),
    /// Answers 204, with `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset-After` (these
    /// seconds) on every `n`th request, as Discord and Slack say their window is spent.
    WindowSpentEvery(usize, &'static str),
    /// Answers after a delay.
    Slow(Duration, u16),
    /// Answers these in turn, each after its delay (delay, status, Retry-After), then
    /// repeats the last.
    Turns(Vec<(Duration, u16, Option<&'static str>)>),
    /// Answers with this status and, like httpbin, every header it got in the body.
    Echo(u16),
}

#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case; a repeated header's values joined by ", ".
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// When it arrived (its body read).
    pub at: std::time::Instant,
}

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let turn = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, behaviour.clone(), log.clone(), turn.clone()));
            }
        });
        Self { url, received }
    }

    /// A URL on which nothing listens: connections are refused.
    pub async fn refusing_url() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}/hook")
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have arrived, and returns them all. Fails the
    /// test, saying what it waited for and what came, if they do not arrive `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::Instant::now() > deadline {
                let came: Vec<String> = got
                    .iter()
                    .map(|r| format!("{} {} ({} bytes)", r.method, r.path, r.body.len()))
                    .collect();
                panic!(
                    "waited {within:?} for {n} requests at {}, {} came: {came:?}",
                    self.url,
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

type Answer = Response<Full<Bytes>>;

/// Serves one connection with hyper; every request on it is answered by [`respond`].
async fn serve(
    stream: TcpStream,
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<Received>>>,
    turn: Arc<AtomicUsize>,
) {
    let service =
        service_fn(move |request| respond(request, behaviour.clone(), log.clone(), turn.clone()));
    let _ = http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn respond(
    request: Request<Incoming>,
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<Received>>>,
    turn: Arc<AtomicUsize>,
) -> Result<Answer, Infallible> {
    let (parts, body) = request.into_parts();
    // A body the client did not finish sending is no request.
    let Ok(body) = body.collect().await.map(|b| b.to_bytes().to_vec()) else {
        return Ok(answer(400, None, "unfinished body".into()));
    };
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut echoed = String::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        echoed.push_str(&format!("{name}: {value}\n"));
        // A repeated header's values, joined as HTTP allows for lists.
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    log.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        path: (parts.uri.path_and_query())
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        headers,
        body,
        at: std::time::Instant::now(),
    });
    let (code, retry_after, text) = match behaviour {
        Behaviour::Status(code) => (code, None, "received".to_string()),
        Behaviour::Hang => {
            // Hold the connection open well past the 10 s delivery timeout.
            tokio::time::sleep(Duration::from_secs(60)).await;
            (200, None, "too late".to_string())
        }
        Behaviour::Script(steps) => {
            let i = turn.fetch_add(1, Ordering::SeqCst).min(steps.len() - 1);
            (steps[i].0, steps[i].1, "received".to_string())
        }
        Behaviour::Slow(delay, code) => {
            tokio::time::sleep(delay).await;
            (code, None, "received".to_string())
        }
        Behaviour::Turns(steps) => {
            let i = turn.fetch_add(1, Ordering::SeqCst).min(steps.len() - 1);
            let (delay, code, retry_after) = steps[i];
            tokio::time::sleep(delay).await;
            (code, retry_after, "received".to_string())
        }
        Behaviour::Echo(code) => (code, None, echoed),
        Behaviour::WindowSpentEvery(n, reset_after) => {
            let mut spent = answer(204, None, String::new());
            if (turn.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(n) {
                let headers = spent.headers_mut();
                headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
                headers.insert("x-ratelimit-reset-after", reset_after.parse().unwrap());
            }
            return Ok(spent);
        }
    };
    Ok(answer(code, retry_after, text))
}

fn answer(code: u16, retry_after: Option<&str>, text: String) -> Answer {
    let mut response = Response::builder()
        .status(code)
        .header("content-type", "text/plain");
    if (300..=399).contains(&code) {
        response = response.header("location", "http://127.0.0.1:9/elsewhere");
    }
    if let Some(after) = retry_after {
        response = response.header("retry-after", after);
    }
    response
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Verifies a request with the Standard Webhooks algorithm, written out here rather than
/// calling Hookline's own signing code: HMAC-SHA256 with the secret's decoded bytes over
/// `{webhook-id}.{webhook-timestamp}.{body}`, any of the space-separated `v1,` signatures,
/// and a timestamp within five minutes.
pub fn verify(secret: &str, request: &Received) -> Result<(), String> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use hmac::{Hmac, Mac};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("secret lacks whsec_")?)
        .map_err(|e| e.to_string())?;
    let id = request.headers.get("webhook-id").ok_or("no webhook-id")?;
    let timestamp = request
        .headers
        .get("webhook-timestamp")
        .ok_or("no webhook-timestamp")?;
    let signatures = request
        .headers
        .get("webhook-signature")
        .ok_or("no webhook-signature")?;
    let ts: i64 = timestamp.parse().map_err(|_| "bad timestamp")?;
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return Err(format!("timestamp {ts} is more than 5 minutes off"));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    let ok = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected);
    if ok {
        Ok(())
    } else {
        Err(format!("no signature in {signatures:?} matches"))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn keeps_repeated_headers_and_reads_chunked_bodies() {
        let receiver = Receiver::start(Behaviour::Status(202)).await;
        let address = receiver
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/hook");
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(
                b"POST /hook?a=1 HTTP/1.1\r\nhost: x\r\nx-tag: one\r\nX-Tag: two\r\n\
                  transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            )
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
        let got = receiver.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(
            (got[0].method.as_str(), got[0].path.as_str()),
            ("POST", "/hook?a=1")
        );
        assert_eq!(got[0].headers["x-tag"], "one, two");
        assert_eq!(got[0].body, b"hello world");
    }
}
