//! A webhook endpoint on loopback that answers as told and records what it received.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

#[derive(Clone, Debug)]
pub enum Behaviour {
    Status(u16),
    /// Accepts the connection and never answers.
    Hang,
    /// Answers these in turn (status, Retry-After), then repeats the last.
    Script(Vec<(u16, Option<&'static str>)>),
    /// Answers after a delay.
    Slow(Duration, u16),
    /// Answers with this status and, like httpbin, every header it got in the body.
    Echo(u16),
}

#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
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

async fn serve(
    mut stream: TcpStream,
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<Received>>>,
    turn: Arc<AtomicUsize>,
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let echoed = request
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\n"))
        .collect::<String>();
    log.lock().unwrap().push(request);
    let mut body = "received".to_string();
    let (code, retry_after) = match behaviour {
        Behaviour::Status(code) => (code, None),
        Behaviour::Hang => {
            // Hold the connection open well past the 10 s delivery timeout.
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        Behaviour::Script(steps) => {
            let i = turn.fetch_add(1, Ordering::SeqCst).min(steps.len() - 1);
            steps[i]
        }
        Behaviour::Slow(delay, code) => {
            tokio::time::sleep(delay).await;
            (code, None)
        }
        Behaviour::Echo(code) => {
            body = echoed;
            (code, None)
        }
    };
    let extra = match (code, retry_after) {
        (300..=399, _) => "location: http://127.0.0.1:9/elsewhere\r\n".to_string(),
        (_, Some(after)) => format!("retry-after: {after}\r\n"),
        _ => String::new(),
    };
    let response = format!(
        "HTTP/1.1 {code} Test\r\ncontent-type: text/plain\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        method,
        path,
        headers,
        body,
    })
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
