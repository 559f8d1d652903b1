//! The attacker's view: what a read-only token, a template, a stolen link, a revoked token
//! or a reader of the table can do, each tried against the running stack.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use hookline_shared::{
    alert::{lifecycle::Actor, AlertInput},
    auth::Scope,
    delivery::{
        sandbox::{Job, Piece, RENDER_TIME},
        signing::generate_secret,
    },
    ingest::Ingest,
    webhook::{Webhook, WebhookSettings},
};
use serde_json::{json, Value};

use crate::support::{
    add_token, admin, alert, api_url, app_as, attempts, deliver_batch, drop_queue, http_client,
    receiver::{Behaviour, Received, Receiver},
    sandbox, scratch_queue, settled, sqs, store, stored_items, verify_with_standardwebhooks,
    webhook, Client, TestAccount, DELIVER, SOON,
};

/// What a preview or a delivery record shows of a request, as a receiver would get it.
fn as_received(request: &Value) -> Received {
    let headers: HashMap<String, String> = request["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap().to_string()))
        .collect();
    Received {
        method: request["method"].as_str().unwrap_or("POST").to_string(),
        path: String::new(),
        headers,
        body: request["body"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
        at: std::time::Instant::now(),
    }
}

#[tokio::test]
async fn no_answer_carries_a_signature_that_verifies() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    // The receiver echoes every header back, as httpbin does, into the delivery log.
    let receiver = Receiver::start(Behaviour::Echo(200)).await;
    let (id, secret) = webhook(&account.writer, &receiver.url, json!({})).await;

    // The forgery of the audit: a read-only token previews a body of its choosing.
    let forged = json!({"template": "{\"type\": \"alert.resolved\", \"forged\": true}"});
    let mut shown = Vec::new();
    for (who, client) in [("reader", &account.reader), ("writer", &account.writer)] {
        let r = client
            .post(&format!("/webhooks/{id}/preview"), forged.clone())
            .await;
        assert_eq!(r.status, 200, "{who}: {r:?}");
        let request = &r.body["request"];
        assert_eq!(request["headers"]["webhook-signature"], "v1,********");
        assert!(request["body"].as_str().unwrap().contains("forged"));
        shown.push(as_received(request));
    }
    // A real delivery and the test route's: their records show masked signatures too.
    alert(&account.writer, json!({"type": "t", "message": "m"})).await;
    let tested = account
        .writer
        .send("POST", &format!("/webhooks/{id}/test"), None)
        .await;
    assert_eq!(tested.body["success"], true, "{tested:?}");
    assert!(!tested.body.to_string().contains("v1,"), "{tested:?}");
    crate::support::all_final(&account.writer, &id, 2).await;
    let sent = receiver.received();
    assert_eq!(verify_with_standardwebhooks(&[(&secret, &sent[0])]), ["ok"]);
    for client in [&account.reader, &account.writer] {
        let list = client.get(&format!("/webhooks/{id}/deliveries")).await.body;
        for listed in list["deliveries"].as_array().unwrap() {
            let d = attempts(client, &id, listed).await;
            for attempt in d["attempts"].as_array().unwrap() {
                let request = &attempt["request"];
                assert_eq!(request["headers"]["webhook-signature"], "v1,********");
                shown.push(as_received(request));
                // What the receiver echoed is in the log with the signature masked.
                let echoed = attempt["response"]["body"].as_str().unwrap();
                assert!(echoed.contains("webhook-signature: ********"), "{echoed}");
                for got in &sent {
                    let real = &got.headers["webhook-signature"];
                    assert!(!echoed.contains(real.trim_start_matches("v1,")), "{echoed}");
                }
            }
        }
    }
    // Nothing any of these answers carried verifies with the official library, though
    // the same library accepts the real deliveries.
    let cases: Vec<(&str, &Received)> = shown.iter().map(|r| (secret.as_str(), r)).collect();
    assert!(cases.len() >= 6);
    for verdict in verify_with_standardwebhooks(&cases) {
        assert_ne!(verdict, "ok");
    }
}

/// The action-link tokens in a text, after `/links/`.
fn link_tokens(text: &str) -> Vec<String> {
    text.split("/links/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect::<String>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

#[tokio::test]
async fn a_reader_sees_neither_action_links_nor_webhook_urls() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let (w, r) = (&account.writer, &account.reader);
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    // A Slack-like URL, whose path is its credential; the highlight format carries links.
    let url = format!("{}/services/T000/B000/s3cretpath", receiver.url);
    let (id, _) = webhook(w, &url, json!({"format": "highlight"})).await;
    let fired = alert(w, json!({"type": "ERRORS_ALERT", "message": "m"})).await;
    let alert_id = fired["alert_id"].as_str().unwrap();
    settled(w, &id, &["succeeded"]).await;

    let real = w.get(&format!("/alerts/{alert_id}")).await.body;
    let tokens = link_tokens(&real["alert"]["links"].to_string());
    assert!(tokens.len() >= 3, "{real}");
    let seen = r.get(&format!("/alerts/{alert_id}")).await.body;
    for (name, url) in seen["alert"]["links"].as_object().unwrap() {
        if name != "expires_at" {
            assert!(url.as_str().unwrap().ends_with("/links/********"), "{url}");
        }
    }
    // Every answer a reader can get about this webhook and alert.
    let delivery = settled(r, &id, &["succeeded"]).await;
    let answers = [
        seen,
        r.get("/webhooks").await.body,
        r.get(&format!("/webhooks/{id}")).await.body,
        attempts(r, &id, &delivery).await,
        r.post(
            &format!("/webhooks/{id}/preview"),
            json!({"alert_id": alert_id}),
        )
        .await
        .body,
    ];
    for answer in &answers {
        let text = answer.to_string();
        assert!(!text.contains("s3cretpath"), "{text}");
        for token in &tokens {
            assert!(!text.contains(token.as_str()), "{text}");
        }
    }
    let masked_url = format!("{}/********", receiver.url.trim_end_matches("/hook"));
    assert_eq!(answers[2]["url"], masked_url.as_str());
    assert_eq!(answers[1]["webhooks"][0]["url"], masked_url.as_str());
    assert_eq!(
        answers[3]["attempts"][0]["request"]["url"],
        masked_url.as_str()
    );
    assert_eq!(answers[4]["request"]["url"], masked_url.as_str());
    // The body a reader sees is rendered with masked links: the highlight format's
    // `ErrorResolvedURL` is one, whole.
    let body: Value = serde_json::from_str(
        answers[3]["attempts"][0]["request"]["body"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        body["ErrorResolvedURL"]
            .as_str()
            .unwrap()
            .ends_with("/links/********"),
        "{body}"
    );
    // A writer sees all of it, and the receiver got working links.
    let full = w.get(&format!("/webhooks/{id}")).await.body;
    assert_eq!(full["url"], url.as_str());
    let written = attempts(w, &id, &delivery).await;
    let body: Value =
        serde_json::from_str(written["attempts"][0]["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["ErrorResolvedURL"], real["alert"]["links"]["resolve"]);
    // A masked link acts on nothing.
    let masked = r.get(&format!("/alerts/{alert_id}")).await.body["alert"]["links"]["resolve"]
        .as_str()
        .unwrap()
        .to_string();
    let path = masked.split("/links/").nth(1).unwrap();
    let posted = http_client()
        .post(format!("{}/links/{path}", api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 403);
    assert_eq!(
        w.get(&format!("/alerts/{alert_id}")).await.body["alert"]["state"],
        "triggered"
    );
}

#[tokio::test]
async fn operational_events_show_readers_no_webhook_url() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let w = &account.writer;
    let gone = Receiver::start(Behaviour::Status(410)).await;
    let watcher = Receiver::start(Behaviour::Status(200)).await;
    let (gone_id, _) = webhook(w, &format!("{}/s3cretpath", gone.url), json!({})).await;
    let (watch_id, _) = webhook(
        w,
        &watcher.url,
        json!({"events": ["webhook.disabled"], "name": "watcher"}),
    )
    .await;
    alert(w, json!({"type": "t", "message": "m"})).await;
    let notice = settled(w, &watch_id, &["succeeded"]).await;
    assert_eq!(notice["event"], "webhook.disabled", "{notice}");
    let seen = attempts(&account.reader, &watch_id, &notice).await;
    let body: Value =
        serde_json::from_str(seen["attempts"][0]["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["webhook"]["id"], gone_id.as_str());
    let url = body["data"]["webhook"]["url"].as_str().unwrap();
    assert!(
        url.ends_with("/********") && !url.contains("s3cret"),
        "{url}"
    );
    let full = attempts(w, &watch_id, &notice).await;
    assert!(full.to_string().contains("s3cretpath"));
}

/// Runs one template in the sandbox (the deliver binary's child) over a realistic context.
async fn sandboxed(source: &str) -> hookline_shared::delivery::sandbox::Answer {
    let job = Job {
        pieces: vec![Piece::text(source)],
        context: json!({
            "alert": {"message": "disk full on web-01", "labels": {"team": "ops"},
                      "data": {"blob": "x".repeat(60 * 1024)}},
            "webhook": {"metadata": {}},
        }),
    };
    sandbox().run(&job).await.expect("the sandbox runs")
}

/// Templates of at most 64 KiB that try to make the engine allocate or work without bound
/// through every filter, test, function and operator it has.
const CATALOGUE: &[(&str, &str)] = &[
    // Operators.
    ("string *", r#"{{ "a" * 100000000 }}"#),
    (
        "string * of a long string",
        r#"{{ ("a" * 60000) * 100000 }}"#,
    ),
    ("list *", r#"{{ ([1, 2, 3] * 100000000)|list|length }}"#),
    ("list * joined", r#"{{ (["abcdefgh"] * 10000000)|join }}"#),
    (
        "~ doubling",
        r#"{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"#,
    ),
    (
        "+ doubling strings",
        r#"{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}"#,
    ),
    (
        "+ doubling lists",
        r#"{% set ns = namespace(l=[1, 2]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}"#,
    ),
    (
        "macro recursion doubling",
        r#"{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ f("ab", 60) }}"#,
    ),
    (
        "macro recursion depth",
        r#"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"#,
    ),
    (
        "call fan-out",
        r#"{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}x{% endmacro %}{{ f(40) }}"#,
    ),
    ("**", r#"{{ 2 ** 100000 }}{{ 10 ** 10 ** 10 }}"#),
    ("slicing", r#"{{ (("a" * 60000)[::1] * 1000)|length }}"#),
    (
        "in",
        r#"{% for i in range(100000) %}{{ "zz" in alert.data.blob }}{% endfor %}"#,
    ),
    (
        "== of large lists",
        r#"{% set l = range(100000)|list %}{% for i in range(1000) %}{{ l == l + [] }}{% endfor %}"#,
    ),
    (
        "== of shared structures",
        r#"{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}"#,
    ),
    (
        "in of shared structures",
        r#"{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a in [ns.b] }}"#,
    ),
    (
        "dict key of a shared structure",
        r#"{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ {ns.a: 1}|length }}"#,
    ),
    (
        "nested loops",
        r#"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"#,
    ),
    (
        "loop output",
        r#"{% for i in range(100000) %}{{ alert.data.blob }}{% endfor %}"#,
    ),
    (
        "loop.changed",
        r#"{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{% for x in [ns.a, ns.a + [], ns.a] %}{{ loop.changed(x) }}{% endfor %}"#,
    ),
    (
        "set block capture",
        r#"{% set ns = namespace(s="") %}{% for i in range(64) %}{% set b %}{{ ns.s }}{{ ns.s }}x{% endset %}{% set ns.s = b %}{% endfor %}"#,
    ),
    // Functions.
    (
        "range",
        r#"{{ range(1000000000)|list|length }}{% for i in range(100000) %}{{ range(100000)|list|length }}{% endfor %}"#,
    ),
    (
        "range step",
        r#"{{ range(0, 9000000000000000000, 1)|list|length }}"#,
    ),
    (
        "dict",
        r#"{% set ns = namespace(d={}) %}{% for i in range(64) %}{% set ns.d = dict(a=ns.d, b=ns.d) %}{% endfor %}{{ ns.d|tojson }}"#,
    ),
    (
        "debug",
        r#"{% for i in range(100000) %}{{ debug() }}{% endfor %}"#,
    ),
    (
        "namespace",
        r#"{% for i in range(100000) %}{% set n = namespace(a=alert.data.blob) %}{% endfor %}"#,
    ),
    ("fail", r#"{{ fail("x" * 100000000) }}"#),
    // Filters: minijinja's, then Hookline's.
    (
        "replace",
        r#"{{ ("a" * 20000)|replace("a", "b" * 20000) }}"#,
    ),
    (
        "replace empty",
        r#"{{ ("a" * 20000)|replace("", "b" * 20000) }}"#,
    ),
    (
        "replace count",
        r#"{{ ("a" * 60000)|replace("a", "b" * 60000, count=100000) }}"#,
    ),
    ("join", r#"{{ range(100000)|join("b" * 20000) }}"#),
    (
        "join attribute",
        r#"{{ ([{"a": alert.data.blob}] * 100000)|join(attribute="a") }}"#,
    ),
    ("indent", r#"{{ ("a\n" * 30000)|indent(1000000) }}"#),
    (
        "indent blank lines",
        r#"{{ ("\n" * 60000)|indent(60000, true, true) }}"#,
    ),
    ("format width", r#"{{ "%1000000000s"|format("a") }}"#),
    (
        "format many",
        r#"{{ ("%s" * 30000)|format(*([alert.data.blob] * 30000)) }}"#,
    ),
    (
        "format repeated",
        r#"{{ ("%s" * 2)|format(alert.data.blob, alert.data.blob) * 1000 }}"#,
    ),
    (
        "tojson indent",
        r#"{{ (range(100000)|list)|tojson(indent=1000000) }}"#,
    ),
    (
        "tojson nested",
        r#"{% set ns = namespace(l=[alert.data.blob]) %}{% for i in range(30) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l|tojson }}"#,
    ),
    (
        "pprint",
        r#"{% set ns = namespace(l=[alert.data.blob]) %}{% for i in range(30) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l|pprint }}"#,
    ),
    (
        "string",
        r#"{% set ns = namespace(l=[alert.data.blob]) %}{% for i in range(30) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l|string }}"#,
    ),
    ("escape", r#"{{ ('"<&' * 20000)|e|e|e|e|e|e|e|e }}"#),
    (
        "upper, title, capitalize, lower",
        r#"{{ ("ß" * 30000)|upper|upper|upper|length }}{{ ("ǆ" * 30000)|title|capitalize|lower }}"#,
    ),
    (
        "split",
        r#"{{ (("a " * 30000)|split|list * 1000)|length }}"#,
    ),
    ("lines", r#"{{ (("a\n" * 30000)|lines * 1000)|length }}"#),
    (
        "trim",
        r#"{% for i in range(100000) %}{{ alert.data.blob|trim }}{% endfor %}"#,
    ),
    ("batch fill", r#"{{ [1]|batch(1000000000, "x")|list }}"#),
    ("slice", r#"{{ [1, 2, 3]|slice(1000000000, "x")|list }}"#),
    ("sort", r#"{{ range(100000)|sort|list|length }}"#),
    (
        "sort of shared structures",
        r#"{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ [ns.a, ns.b]|sort|length }}"#,
    ),
    (
        "dictsort and items",
        r#"{{ dict(a=1)|dictsort|list }}{% for i in range(100000) %}{{ alert|items|list|length }}{% endfor %}"#,
    ),
    (
        "unique",
        r#"{{ (range(100000)|list * 100)|unique|list|length }}"#,
    ),
    (
        "unique of shared structures",
        r#"{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ [ns.a, ns.b]|unique|list|length }}"#,
    ),
    (
        "reverse",
        r#"{% for i in range(100000) %}{{ alert.data.blob|reverse }}{% endfor %}"#,
    ),
    ("list", r#"{{ (alert.data.blob * 1000)|list|length }}"#),
    ("map", r#"{{ (range(100000)|map("string")|list)|length }}"#),
    (
        "select, reject",
        r#"{{ range(100000)|select("odd")|reject("even")|list|length }}"#,
    ),
    (
        "selectattr, rejectattr",
        r#"{{ ([alert] * 1000000)|selectattr("message")|rejectattr("x")|list|length }}"#,
    ),
    (
        "groupby",
        r#"{{ ([alert] * 1000000)|groupby("message")|list|length }}"#,
    ),
    (
        "chain, zip",
        r#"{{ ([range(100000)] * 1000)|chain|list|length }}{{ range(100000)|zip(range(100000))|list|length }}"#,
    ),
    (
        "chain doubling",
        r#"{% set ns = namespace(l=[1, 2]) %}{% for i in range(64) %}{% set ns.l = ns.l|chain(ns.l) %}{% endfor %}{{ ns.l|length }}"#,
    ),
    (
        "zip nesting",
        r#"{% set ns = namespace(z=range(10)) %}{% for i in range(40) %}{% set ns.z = ns.z|zip(ns.z) %}{% endfor %}{{ ns.z|first }}"#,
    ),
    (
        "sum, min, max",
        r#"{% for i in range(100000) %}{{ range(100000)|sum }}{{ range(100000)|min }}{{ range(100000)|max }}{% endfor %}"#,
    ),
    (
        "first, last, length",
        r#"{% for i in range(100000) %}{{ (range(100000)|list)|last }}{{ range(100000)|first }}{{ range(100000)|length }}{% endfor %}"#,
    ),
    (
        "attr, default, d",
        r#"{% for i in range(100000) %}{{ alert|attr("message")|default("x" * 60000)|d("y") }}{% endfor %}"#,
    ),
    (
        "int, float, round, abs, bool, safe",
        r#"{% for i in range(100000) %}{{ ("1" * 60000)|int|float|round(2)|abs|bool|safe }}{% endfor %}"#,
    ),
    (
        "count",
        r#"{% for i in range(100000) %}{{ alert.data.blob|count }}{% endfor %}"#,
    ),
    (
        "truncate",
        r#"{{ alert.data.blob|truncate(1000000000, end="e" * 60000) }}{% for i in range(100000) %}{{ alert.data.blob|truncate(60000) }}{% endfor %}"#,
    ),
    (
        "date",
        r#"{{ 0|date("%c" * 30000) }}{% for i in range(100000) %}{{ 0|date("%c%c%c%c%c%c%c%c%c%c%c%c") }}{% endfor %}"#,
    ),
    ("datetimeformat", r#"{{ 0|datetimeformat("%Y" * 30000) }}"#),
    (
        "regex_replace",
        r#"{{ ("a" * 20000)|regex_replace("", "b" * 20000) }}"#,
    ),
    (
        "regex_replace groups",
        r#"{{ ("a" * 60000)|regex_replace("(a)", "$1" * 5000) }}"#,
    ),
    (
        "regex_replace whole match",
        r#"{{ ("a" * 60000)|regex_replace("a+", "${0}" * 10000) }}"#,
    ),
    (
        "regex_replace pattern",
        r#"{{ "a"|regex_replace("a{1000}{1000}{1000}", "b") }}{{ "a"|regex_replace("(" * 1024, "b") }}"#,
    ),
    // Tests.
    (
        "divisibleby, odd, even",
        r#"{% for i in range(100000) %}{% if i is divisibleby(3) and i is odd and i is not even %}{% endif %}{% endfor %}"#,
    ),
    (
        "startingwith, endingwith",
        r#"{% for i in range(100000) %}{{ alert.data.blob is startingwith(alert.data.blob) }}{{ alert.data.blob is endingwith(alert.data.blob) }}{% endfor %}"#,
    ),
    (
        "in, eq, ne, lt tests",
        r#"{% set l = range(100000)|list %}{% for i in range(1000) %}{{ 99999 is in(l) }}{{ l is eq(l + []) }}{{ l is ne(l + []) }}{{ l is lt(l + []) }}{% endfor %}"#,
    ),
    (
        "eq test of shared structures",
        r#"{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a is eq(ns.b) }}"#,
    ),
    (
        "sameas, defined, none",
        r#"{% for i in range(100000) %}{{ alert is sameas(alert) and alert is defined and alert is not none }}{% endfor %}"#,
    ),
    (
        "type tests",
        r#"{% for i in range(100000) %}{{ i is number and i is integer and i is not float and i is not string and i is not sequence and i is not mapping and i is not iterable and i is not boolean }}{% endfor %}"#,
    ),
    (
        "lower, upper tests",
        r#"{% for i in range(100000) %}{{ alert.data.blob is lower }}{{ alert.data.blob is upper }}{% endfor %}"#,
    ),
    (
        "filter, test tests",
        r#"{% for i in range(100000) %}{{ "upper" is filter and "odd" is test }}{% endfor %}"#,
    ),
    (
        "true, false, safe, escaped",
        r#"{% for i in range(100000) %}{{ true is true and false is false and "x" is not safe and "x" is not escaped }}{% endfor %}"#,
    ),
];

/// The most memory a render may take beyond what a trivial one takes, and how long it
/// may run: the child is stopped at `RENDER_TIME`, so this allows for the stopping.
const MEMORY_BOUND: u64 = 32 * 1024 * 1024;

#[tokio::test]
async fn no_template_breaks_its_bounds() {
    let baseline = sandboxed("{{ alert.message }}").await;
    assert_eq!(baseline.results[0].as_deref(), Ok("disk full on web-01"));
    let floor = baseline.peak_rss.expect("the child measures itself");
    let mut report = Vec::new();
    let mut over = Vec::new();
    for (name, source) in CATALOGUE {
        assert!(source.len() <= 64 * 1024, "{name}");
        let answer = sandboxed(source).await;
        let result = &answer.results[0];
        let peak = answer.peak_rss.map(|p| p.saturating_sub(floor));
        report.push(format!(
            "{name:36} {:>9} {:>5} ms  {}",
            peak.map_or("killed".to_string(), |p| format!(
                "{:.1} MiB",
                p as f64 / 1048576.0
            )),
            answer.render_ms,
            match result {
                Ok(out) => format!("rendered {} bytes", out.len()),
                Err(e) => e.message.clone(),
            }
        ));
        let memory_ok = match peak {
            Some(p) => p <= MEMORY_BOUND,
            // No answer: killed at its memory limit, and told so.
            None => result
                .as_ref()
                .is_err_and(|e| e.message.contains("MiB a render may")),
        };
        // Stopped by its watchdog at RENDER_TIME, or done sooner.
        let time_ok = answer.render_ms <= RENDER_TIME.as_millis() as u64 + 50;
        let clear = match result {
            Ok(out) => out.len() <= 256 * 1024,
            Err(e) => !e.message.is_empty(),
        };
        if !(memory_ok && time_ok && clear) {
            over.push(*name);
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        over.is_empty(),
        "over the bounds: {over:?}\n{}",
        report.join("\n")
    );
}

#[tokio::test]
async fn a_bad_template_fails_alone_in_its_batch() {
    let (queue, url) = scratch_queue().await;
    let app = app_as("deliver").await;
    let ingest = |queue| Ingest {
        store: &app.store,
        queue,
        settings: &app.settings.delivery,
        links_base: None,
        sandbox: &app.attempter.sandbox,
    };
    // Account A's webhook holds a template the engine would materialise 2^33 items for;
    // account B's three are ordinary.
    let bomb = "{% set ns = namespace(l=[1, 2]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}";
    let a = TestAccount::new().await;
    let b = TestAccount::new().await;
    let a_receiver = Receiver::start(Behaviour::Status(200)).await;
    let b_receiver = Receiver::start(Behaviour::Status(200)).await;
    let (a_hook, _) = webhook(&a.writer, &a_receiver.url, json!({"template": bomb})).await;
    let mut b_hooks = Vec::new();
    for (i, extra) in [
        json!({}),
        json!({"template": "{\"text\": {{ alert.message|tojson }}}"}),
        json!({"format": "slack"}),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = extra;
        body["name"] = json!(format!("b{i}"));
        b_hooks.push(webhook(&b.writer, &b_receiver.url, body).await.0);
    }
    for account in [&a.id, &b.id] {
        let input = AlertInput::parse(&json!({"type": "t", "message": "m"})).unwrap();
        ingest(&queue)
            .accept(account, input, None, Actor::Queue)
            .await
            .unwrap();
    }
    let received = sqs()
        .await
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(received.len(), 4, "one batch of all four");
    let reply = deliver_batch(&url, &received).await;
    // Nothing comes back: B's three are delivered on this first receive, A's is recorded
    // failed with the template's error, not retried.
    assert!(reply.batch_item_failures.is_empty(), "{reply:?}");
    assert_eq!(b_receiver.received().len(), 3);
    assert!(a_receiver.received().is_empty());
    for id in &b_hooks {
        settled(&b.writer, id, &["succeeded"]).await;
    }
    let failed = settled(&a.writer, &a_hook, &["failed"]).await;
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .starts_with("Template Warning: template: the template ran longer"),
        "{failed}"
    );
    drop_queue(url).await;
}

#[tokio::test]
async fn non_public_ranges_of_iana_registries_are_refused_at_save() {
    let account = TestAccount::new().await;
    let before = stored_items(&account.id).await;
    for url in [
        "http://[64:ff9b:1::a00:1]/",
        "http://[2001::1]/",
        "http://[2001:1ff::1]/",
        "http://[fec0::1]/",
        "http://[::ffff:0:7f00:1]/",
        "http://[5f00::1]/",
        "http://192.31.196.1/",
        "http://192.175.48.1/",
    ] {
        let r = account
            .writer
            .post("/webhooks", json!({"name": "n", "url": url}))
            .await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec!["url".to_string()]),
            "{url}"
        );
        assert!(r.body.to_string().contains("ALLOWED_CIDRS"), "{r:?}");
    }
    assert_eq!(stored_items(&account.id).await, before);
}

#[tokio::test]
async fn answers_that_carry_credentials_are_never_cached() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let no_store = |response: &reqwest::Response| {
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let created = c
        .request("POST", "/webhooks")
        .json(&json!({"name": "n", "url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_store(&created).as_deref(), Some("no-store"));
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path) in [
        ("GET", format!("/webhooks/{id}/secret")),
        ("POST", format!("/webhooks/{id}/secret/rotate")),
        ("POST", "/portal-links".to_string()),
        ("GET", format!("/webhooks/{id}")),
        ("GET", "/webhooks/nope".to_string()),
    ] {
        let response = c.request(method, &path).send().await.unwrap();
        assert!(response.status().as_u16() < 500, "{method} {path}");
        assert_eq!(no_store(&response).as_deref(), Some("no-store"), "{path}");
    }
}

/// A portal session's cookie, from the answer that set it.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("hookline_session=") && !v.starts_with("hookline_session=;"))
        .map(|v| v.split(';').next().unwrap().to_string())
}

fn portal_client() -> reqwest::Client {
    hookline_shared::delivery::send::use_ring_for_tls();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Takes a one-time portal URL; the session's cookie.
async fn take(link: &str) -> String {
    let path = link.split("/portal/").nth(1).unwrap();
    let taken = portal_client()
        .post(format!("{}/portal/{path}", api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 303, "{link}");
    session_cookie(&taken).expect("a session cookie")
}

/// Signs in with a token; the session's cookie.
async fn sign_in(token: &str) -> String {
    let signed = portal_client()
        .post(format!("{}/portal/sign-in", api_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    session_cookie(&signed).expect("a session cookie")
}

/// Whether the cookie's session still shows the webhooks page (else: to sign in).
async fn signed_in(cookie: &str) -> bool {
    let page = portal_client()
        .get(format!("{}/portal/webhooks", api_url()))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    match page.status().as_u16() {
        200 => true,
        303 => {
            let to = page.headers()["location"].to_str().unwrap().to_string();
            assert!(to.ends_with("/portal/sign-in"), "{to}");
            false
        }
        other => panic!("the portal answered {other}"),
    }
}

#[tokio::test]
async fn revoking_a_token_ends_the_sessions_its_links_started() {
    let account = TestAccount::new().await;
    let store = store().await;
    let (stolen, stolen_id) = add_token(&store, &account.id, Scope::Webhook).await;
    let thief = Client::new(&stolen);
    let link = thief.post("/portal-links", json!({})).await;
    assert_eq!(link.status, 201, "{link:?}");
    let cookie = take(link.body["url"].as_str().unwrap()).await;
    assert!(signed_in(&cookie).await);
    // A link minted but not yet taken dies with its token too.
    let unused = thief.post("/portal-links", json!({})).await.body["url"]
        .as_str()
        .unwrap()
        .to_string();
    store.revoke_token(&account.id, &stolen_id).await.unwrap();
    assert!(!signed_in(&cookie).await, "a revoked token's link session");
    let late = take(&unused).await;
    assert!(!signed_in(&late).await, "a revoked token's unused link");
    // The account's own sessions are untouched.
    let own = sign_in(&account.writer.token).await;
    assert!(signed_in(&own).await);
}

#[tokio::test]
async fn an_account_can_end_every_portal_session() {
    let account = TestAccount::new().await;
    let store = store().await;
    let by_token = sign_in(&account.writer.token).await;
    let reader = sign_in(&account.reader.token).await;
    let link = hookline_shared::session::PortalLink {
        account_id: account.id.clone(),
        scopes: hookline_shared::session::link_scopes(false),
        origin: hookline_shared::session::Origin::admin(),
        expires_at: (Utc::now() + chrono::Duration::minutes(5)).timestamp(),
    };
    let (url, _) = hookline_shared::session::mint_link(&store, &api_url(), &link)
        .await
        .unwrap();
    let by_admin = take(&url).await;
    for cookie in [&by_token, &reader, &by_admin] {
        assert!(signed_in(cookie).await);
    }
    // Only a writer may, and another account's sessions stand.
    let other = TestAccount::new().await;
    let theirs = sign_in(&other.writer.token).await;
    let refused = account
        .reader
        .send("DELETE", "/portal-sessions", None)
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "insufficient_scope")
    );
    assert!(signed_in(&by_token).await);
    let ended = account
        .writer
        .send("DELETE", "/portal-sessions", None)
        .await;
    assert_eq!(ended.status, 200, "{ended:?}");
    assert!(ended.body["ended_before"].is_string());
    for cookie in [&by_token, &reader, &by_admin] {
        assert!(!signed_in(cookie).await);
    }
    assert!(signed_in(&theirs).await);
    // Signing in again works; hookline-admin ends that one too.
    let again = sign_in(&account.writer.token).await;
    assert!(signed_in(&again).await);
    admin(&["end-portal-sessions", "--account", &account.id]);
    assert!(!signed_in(&again).await);
    assert!(signed_in(&theirs).await);
}

/// Every attribute value of an item, as text.
fn texts(item: &HashMap<String, AttributeValue>) -> String {
    format!("{item:?}")
}

#[tokio::test]
async fn a_reader_of_the_table_finds_no_credential() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let mark = uuid::Uuid::new_v4().simple().to_string();
    let header = format!("hdr-{mark}");
    let password = format!("pw-{mark}");
    let created = c
        .create(json!({"name": "n", "url": receiver.url,
                       "headers": {"X-Key": header, "X-Tpl": "{{ alert.id }}-tpl"},
                       "basic_auth": {"username": "u", "password": password}}))
        .await;
    let id = created["id"].as_str().unwrap();
    let first = created["secret"].as_str().unwrap().to_string();
    let rotated = c
        .post(&format!("/webhooks/{id}/secret/rotate"), json!({}))
        .await;
    let second = rotated.body["secret"].as_str().unwrap().to_string();
    alert(c, json!({"type": "t", "message": "m"})).await;
    settled(c, id, &["succeeded"]).await;
    sign_in(&c.token).await;
    // The deliveries carried them all, and both secrets signed.
    let got = receiver.received();
    assert_eq!(got[0].headers["x-key"], header);
    assert_eq!(
        verify_with_standardwebhooks(&[(&first, &got[0]), (&second, &got[0])]),
        ["ok", "ok"]
    );
    let link_key = store().await.link_key(&account.id).await.unwrap().unwrap();
    let portal_key = STANDARD.encode(store().await.portal_key().await.unwrap());
    let plain: Vec<String> = vec![
        first.clone(),
        second.clone(),
        first.trim_start_matches("whsec_").into(),
        second.trim_start_matches("whsec_").into(),
        header.clone(),
        password.clone(),
        "-tpl".into(),
        link_key.secret.clone(),
        portal_key.trim_end_matches('=').into(),
    ];
    let mut items = stored_items(&account.id).await;
    items.push(("PORTAL/KEY".into(), raw_item("PORTAL", "KEY").await));
    let keyring = raw_item("KEYRING", "DATAKEY").await;
    assert!(!texts(&keyring).contains("Plaintext"));
    items.push(("KEYRING".into(), keyring));
    for (sk, item) in &items {
        let text = texts(item);
        for secret in &plain {
            assert!(!text.contains(secret.as_str()), "{sk} holds a credential");
        }
    }
    let webhook_item = &items
        .iter()
        .find(|(sk, _)| sk.starts_with("WEBHOOK#"))
        .unwrap()
        .1;
    assert!(webhook_item["secret"]
        .as_s()
        .unwrap()
        .starts_with("sealed:v1:"));
}

async fn raw_item(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    let client = aws_sdk_dynamodb::Client::new(&hookline_shared::aws::config().await);
    client
        .get_item()
        .table_name(std::env::var("TABLE_NAME").unwrap())
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default()
}

#[tokio::test]
async fn credentials_written_plain_still_work_and_are_sealed_on_their_next_write() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    // A webhook and a link key as stored before credentials were sealed.
    let settings = WebhookSettings::parse(&json!({"name": "old", "url": receiver.url,
        "headers": {"X-Old": "old-header-value"},
        "basic_auth": {"username": "u", "password": "old-password"}}))
    .unwrap();
    let old = Webhook::new(&account.id, settings, generate_secret(), Utc::now());
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&old).unwrap();
    item.insert(
        "pk".into(),
        AttributeValue::S(format!("ACCOUNT#{}", account.id)),
    );
    item.insert(
        "sk".into(),
        AttributeValue::S(format!("WEBHOOK#{}", old.id)),
    );
    item.insert("entity".into(), AttributeValue::S("webhook".into()));
    let client = aws_sdk_dynamodb::Client::new(&hookline_shared::aws::config().await);
    let table = std::env::var("TABLE_NAME").unwrap();
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let plain_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    client
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("ACCOUNT#{}", account.id)))
        .key("sk", AttributeValue::S("ACCOUNT".into()))
        .update_expression("SET link_key = :k")
        .expression_attribute_values(
            ":k",
            AttributeValue::M(HashMap::from([
                ("id".into(), AttributeValue::S("old".into())),
                ("secret".into(), AttributeValue::S(plain_key.into())),
            ])),
        )
        .send()
        .await
        .unwrap();
    let id = &old.id;
    // It reads and delivers as it did.
    let secret = c.get(&format!("/webhooks/{id}/secret")).await.body;
    assert_eq!(secret["secret"], old.secret.as_str());
    let tested = c.send("POST", &format!("/webhooks/{id}/test"), None).await;
    assert_eq!(tested.body["success"], true, "{tested:?}");
    let got = receiver.wait_for(1, SOON).await;
    assert_eq!(got[0].headers["x-old"], "old-header-value");
    assert_eq!(
        verify_with_standardwebhooks(&[(&old.secret, &got[0])]),
        ["ok"]
    );
    let webhook_item = || async {
        stored_items(&account.id)
            .await
            .into_iter()
            .find(|(sk, _)| sk == &format!("WEBHOOK#{id}"))
            .unwrap()
            .1
    };
    assert!(texts(&webhook_item().await).contains("old-password"));
    // Its next write seals everything it holds, what the write did not name included.
    let patched = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    let sealed = texts(&webhook_item().await);
    for plain in ["old-password", "old-header-value", old.secret.as_str()] {
        assert!(!sealed.contains(plain), "{plain} still plain");
    }
    let secret = c.get(&format!("/webhooks/{id}/secret")).await.body;
    assert_eq!(secret["secret"], old.secret.as_str());
    c.send("POST", &format!("/webhooks/{id}/test"), None).await;
    let got = receiver.wait_for(2, SOON).await;
    assert_eq!(got[1].headers["x-old"], "old-header-value");
    assert_eq!(
        verify_with_standardwebhooks(&[(&old.secret, &got[1])]),
        ["ok"]
    );
    // The plain link key is sealed when first used, and signs as it did.
    let key = store().await.link_key(&account.id).await.unwrap().unwrap();
    assert_eq!(key.secret, plain_key);
    let account_item = raw_item(&format!("ACCOUNT#{}", account.id), "ACCOUNT").await;
    assert!(!texts(&account_item).contains(plain_key));
}
