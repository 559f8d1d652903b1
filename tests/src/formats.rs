//! Every built-in format's body against its receiver's published contract: rendered by the
//! same code as a delivery, for plain and extreme alerts, and every event. Pure: no stack.

use chrono::{DateTime, Utc};
use hookline_shared::{
    alert::{
        lifecycle::{state_after, Actor, Standing},
        Alert, AlertInput, Links,
    },
    delivery::{
        format::Format,
        payload::Payload,
        render::{self, DeliveryRef, Rendered},
    },
    event::EventType,
    webhook::{Webhook, WebhookSettings},
};
use serde_json::{json, Value};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn webhook(format: &str, metadata: Value) -> Webhook {
    let settings = WebhookSettings::parse(&json!({
        "name": "receiver", "url": "https://hooks.example.com/in",
        "format": format, "metadata": metadata
    }))
    .unwrap_or_else(|e| panic!("{format}: {e:?}"));
    Webhook::new(
        "acct",
        settings,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        at(),
    )
}

/// An alert as the transition raising `event` leaves it, with action links.
fn alert(input: Value, event: EventType) -> Alert {
    let input = AlertInput::parse(&input).unwrap();
    let mut alert = Alert::new("019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b".into(), input, at());
    let standing = Standing {
        state: state_after(event),
        silenced_until: (event == EventType::AlertSilenced)
            .then(|| at() + chrono::Duration::hours(1)),
        ..alert.standing()
    };
    alert.record_move(event, standing, Actor::Queue, at());
    let base = "https://hookline.example.com/links/";
    alert.links = Some(Links {
        expires_at: at(),
        urls: [
            "acknowledge",
            "resolve",
            "silence_1h",
            "silence_24h",
            "ignore",
        ]
        .iter()
        .map(|a| (a.to_string(), format!("{base}{a}-token")))
        .collect(),
    });
    alert
}

fn rendered(webhook: &Webhook, alert: &Alert, event: EventType) -> Result<Rendered, String> {
    let json = serde_json::to_value(alert).unwrap();
    let payload = Payload::new(event, &json, alert.timeline.last(), webhook, at()).render();
    let delivery = DeliveryRef {
        id: "019ab3c4-0000-7000-8000-000000000001",
        attempt: 1,
    };
    // Users' templates render in the sandbox, a child of the deliver function's binary.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sandbox = crate::support::sandbox();
    runtime
        .block_on(render::render(webhook, &payload, delivery, &sandbox))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

fn body(webhook: &Webhook, alert: &Alert, event: EventType) -> Value {
    let out = rendered(webhook, alert, event).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.content_type, "application/json");
    serde_json::from_slice(&out.body).unwrap()
}

/// A plain alert, and one at every limit Hookline allows.
fn inputs() -> Vec<Value> {
    let labels: serde_json::Map<String, Value> = (0..64)
        .map(|i| {
            (
                format!("label_{i:02}_{}", "k".repeat(100)),
                json!("v".repeat(1024)),
            )
        })
        .collect();
    vec![
        json!({"type": "cpu_high", "message": "CPU at 92% on web-01", "severity": "critical",
               "labels": {"instance": "web-01:9100", "team": "ops"}, "count": 3,
               "threshold": 80, "url": "https://grafana.example.com/d/cpu"}),
        json!({"type": "t".repeat(100), "message": "<b>&\"quoted\"</b> @everyone ".repeat(280),
               "title": "T".repeat(500), "severity": "warning", "labels": labels,
               "dedup_key": "k".repeat(256), "data": {"deep": {"x": [1, 2, 3]}}}),
        json!({"type": "disk_high", "message": "disk"}),
    ]
}

/// Every event an alert's delivery can carry (a digest carries many: see `storms`).
fn every_event() -> Vec<EventType> {
    use strum::VariantArray;
    (EventType::VARIANTS.iter().copied())
        .filter(|e| *e != EventType::AlertDigest)
        .collect()
}

fn chars(v: &Value) -> usize {
    v.as_str()
        .unwrap_or_else(|| panic!("not text: {v}"))
        .chars()
        .count()
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok())
}

#[test]
fn highlight_matches_its_openapi_schema() {
    let schema: Value = serde_json::from_str(include_str!(
        "../contracts/highlight-alert-webhook.schema.json"
    ))
    .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let hook = webhook("highlight", json!({"project_id": 42, "workspace_id": 7}));
    let mut alerts: Vec<Value> = inputs();
    alerts.push(
        json!({"type": "ERRORS_ALERT", "message": "TypeError: x is undefined",
        "title": "Errors over threshold", "count": 12, "threshold": 10,
        "url": "https://app.highlight.io/1/errors/abc",
        "data": {"session_id": "s1", "query": "service_name=web", "user_properties": {"a": 1}}}),
    );
    for input in alerts {
        for event in every_event() {
            let sent = body(&hook, &alert(input.clone(), event), event);
            let faults: Vec<String> = validator
                .iter_errors(&sent)
                .map(|e| e.to_string())
                .collect();
            assert!(faults.is_empty(), "{event}: {faults:?}\n{sent}");
        }
    }
    let errors = body(
        &hook,
        &alert(inputs()[0].clone(), EventType::AlertTriggered),
        EventType::AlertTriggered,
    );
    assert_eq!(errors["Event"], "METRIC_MONITOR");
    assert_eq!(errors["ProjectID"], 42);
    assert_eq!(errors["Count"], 3);
    assert_eq!(errors["Threshold"], 80);
    assert_eq!(
        errors["ErrorResolvedURL"],
        "https://hookline.example.com/links/resolve-token"
    );
}

#[test]
fn pagerduty_events_v2_fields_limits_and_actions() {
    let hook = webhook(
        "pagerduty",
        json!({"routing_key": "R0123456789abcdef0123456789abcdef"}),
    );
    for input in inputs() {
        for event in every_event()
            .into_iter()
            .filter(|e| Format::Pagerduty.carries(*e))
        {
            let a = alert(input.clone(), event);
            let sent = body(&hook, &a, event);
            let action = match event {
                EventType::AlertAcknowledged => "acknowledge",
                EventType::AlertResolved | EventType::AlertIgnored => "resolve",
                _ => "trigger",
            };
            assert_eq!(sent["event_action"], action, "{event}");
            assert_eq!(sent["routing_key"], "R0123456789abcdef0123456789abcdef");
            let key = sent["dedup_key"].as_str().unwrap();
            assert!(!key.is_empty() && key.chars().count() <= 255);
            assert!(a
                .input
                .dedup_key
                .as_deref()
                .unwrap_or(&a.id)
                .starts_with(key));
            if action == "trigger" {
                let payload = &sent["payload"];
                assert!(
                    (1..=1024).contains(&chars(&payload["summary"])),
                    "{payload}"
                );
                assert!(chars(&payload["source"]) >= 1);
                let severity = payload["severity"].as_str().unwrap();
                assert!(["critical", "error", "warning", "info"].contains(&severity));
                assert!(is_time(&payload["timestamp"]), "{payload}");
                assert!(payload["custom_details"].is_object());
            } else {
                assert!(sent.get("payload").is_none());
            }
            let keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
            for key in keys {
                assert!(
                    [
                        "routing_key",
                        "event_action",
                        "dedup_key",
                        "payload",
                        "client",
                        "client_url",
                        "links"
                    ]
                    .contains(&key.as_str()),
                    "{key}"
                );
            }
        }
    }
    let escalated = body(
        &hook,
        &alert(inputs()[2].clone(), EventType::AlertEscalated),
        EventType::AlertEscalated,
    );
    assert_eq!(escalated["payload"]["severity"], "critical");
    // The key belongs in `secrets`, which wins over one left in `metadata`.
    let mut moved = hook.clone();
    (moved.settings.secrets).insert(
        "routing_key".into(),
        "Rsecrets0000000000000000000000000".into(),
    );
    let a = alert(inputs()[0].clone(), EventType::AlertTriggered);
    let sent = body(&moved, &a, EventType::AlertTriggered);
    assert_eq!(sent["routing_key"], "Rsecrets0000000000000000000000000");
    // Without its routing key the format cannot be sent: a render error, not a bad request.
    let mut bare = hook.clone();
    bare.settings.metadata.0.clear();
    let a = alert(inputs()[0].clone(), EventType::AlertTriggered);
    let err = rendered(&bare, &a, EventType::AlertTriggered).unwrap_err();
    assert!(
        err.starts_with("Template Warning: format pagerduty:"),
        "{err}"
    );
    assert!(err.contains("routing_key"), "{err}");
}

#[test]
fn slack_stays_within_block_kit_limits() {
    let hook = webhook("slack", json!({}));
    for input in inputs() {
        for event in every_event() {
            let sent = body(&hook, &alert(input.clone(), event), event);
            assert!(chars(&sent["text"]) <= 3000);
            let attachment = &sent["attachments"][0];
            let colour = attachment["color"].as_str().unwrap();
            assert!(colour.starts_with('#') && colour.len() == 7, "{colour}");
            let blocks = attachment["blocks"].as_array().unwrap();
            assert!(!blocks.is_empty() && blocks.len() <= 50);
            let mut ids = std::collections::HashSet::new();
            for block in blocks {
                match block["type"].as_str().unwrap() {
                    "header" => {
                        assert_eq!(block["text"]["type"], "plain_text");
                        assert!(chars(&block["text"]["text"]) <= 150);
                    }
                    "section" => {
                        if let Some(text) = block.get("text") {
                            assert!((1..=3000).contains(&chars(&text["text"])));
                        }
                        if let Some(fields) = block.get("fields") {
                            let fields = fields.as_array().unwrap();
                            assert!(fields.len() <= 10);
                            assert!(fields.iter().all(|f| chars(&f["text"]) <= 2000));
                        }
                    }
                    "context" => assert!(block["elements"].as_array().unwrap().len() <= 10),
                    "actions" => {
                        let elements = block["elements"].as_array().unwrap();
                        assert!(!elements.is_empty() && elements.len() <= 25);
                        for button in elements {
                            assert_eq!(button["type"], "button");
                            assert!(chars(&button["text"]["text"]) <= 75);
                            assert!(chars(&button["url"]) <= 3000);
                            assert!(chars(&button["action_id"]) <= 255);
                            assert!(ids.insert(button["action_id"].clone()));
                        }
                    }
                    other => panic!("unexpected block {other}"),
                }
            }
        }
    }
    let sent = body(
        &hook,
        &alert(inputs()[0].clone(), EventType::AlertTriggered),
        EventType::AlertTriggered,
    );
    let blocks = sent["attachments"][0]["blocks"].as_array().unwrap();
    let buttons = &blocks.last().unwrap()["elements"];
    assert_eq!(buttons[0]["text"]["text"], "Acknowledge");
    assert_eq!(
        buttons[0]["url"],
        "https://hookline.example.com/links/acknowledge-token"
    );
    assert_eq!(sent["attachments"][0]["color"], "#e01e5a");
    // mrkdwn's control characters are escaped.
    let long = body(
        &hook,
        &alert(inputs()[1].clone(), EventType::AlertTriggered),
        EventType::AlertTriggered,
    );
    let text = long["attachments"][0]["blocks"][1]["text"]["text"]
        .as_str()
        .unwrap();
    assert!(text.starts_with("&lt;b&gt;&amp;"), "{text}");
}

#[test]
fn teams_is_an_adaptive_card_teams_renders() {
    let hook = webhook("teams", json!({}));
    for input in inputs() {
        for event in every_event() {
            let sent = body(&hook, &alert(input.clone(), event), event);
            assert_eq!(sent["type"], "message");
            let attachment = &sent["attachments"][0];
            assert_eq!(
                attachment["contentType"],
                "application/vnd.microsoft.card.adaptive"
            );
            let card = &attachment["content"];
            assert_eq!(card["type"], "AdaptiveCard");
            assert_eq!(
                card["$schema"],
                "http://adaptivecards.io/schemas/adaptive-card.json"
            );
            // Teams renders schema versions up to 1.5.
            let version: f64 = card["version"].as_str().unwrap().parse().unwrap();
            assert!((1.0..=1.5).contains(&version));
            for element in card["body"].as_array().unwrap() {
                assert!(["TextBlock", "FactSet"].contains(&element["type"].as_str().unwrap()));
            }
            for action in card["actions"].as_array().unwrap() {
                assert_eq!(action["type"], "Action.OpenUrl");
                assert!(action["url"].as_str().unwrap().starts_with("https://"));
            }
        }
    }
}

#[test]
fn discord_stays_within_its_embed_limits_and_pings_nobody() {
    let hook = webhook("discord", json!({}));
    for input in inputs() {
        for event in every_event() {
            let sent = body(&hook, &alert(input.clone(), event), event);
            assert!(chars(&sent["content"]) <= 2000);
            assert_eq!(sent["allowed_mentions"], json!({"parse": []}));
            let embeds = sent["embeds"].as_array().unwrap();
            assert!(embeds.len() <= 10);
            let embed = &embeds[0];
            let mut total = chars(&embed["title"]) + chars(&embed["description"]);
            assert!(chars(&embed["title"]) <= 256);
            assert!(chars(&embed["description"]) <= 4096);
            assert!(embed["color"].as_u64().unwrap() <= 0xFF_FFFF);
            assert!(is_time(&embed["timestamp"]));
            let fields = embed["fields"].as_array().unwrap();
            assert!(fields.len() <= 25);
            for field in fields {
                assert!(chars(&field["name"]) <= 256 && chars(&field["value"]) <= 1024);
                total += chars(&field["name"]) + chars(&field["value"]);
            }
            total += chars(&embed["footer"]["text"]);
            assert!(total <= 6000, "{total}");
        }
    }
}

#[test]
fn google_chat_is_a_card_with_link_buttons() {
    let hook = webhook("google_chat", json!({}));
    for input in inputs() {
        for event in every_event() {
            let sent = body(&hook, &alert(input.clone(), event), event);
            assert!(chars(&sent["text"]) <= 4096);
            let card = &sent["cardsV2"][0]["card"];
            assert!(chars(&card["header"]["title"]) <= 200);
            for section in card["sections"].as_array().unwrap() {
                for widget in section["widgets"].as_array().unwrap() {
                    if let Some(buttons) = widget.pointer("/buttonList/buttons") {
                        for b in buttons.as_array().unwrap() {
                            assert!(b.pointer("/onClick/openLink/url").unwrap().is_string());
                        }
                    }
                }
            }
        }
    }
    let sent = body(
        &hook,
        &alert(inputs()[1].clone(), EventType::AlertTriggered),
        EventType::AlertTriggered,
    );
    let paragraph = sent
        .pointer("/cardsV2/0/card/sections/0/widgets/0/textParagraph/text")
        .unwrap();
    assert!(paragraph.as_str().unwrap().starts_with("&lt;b&gt;"));
}

/// Opsgenie's Alert API: create at the webhook's URL; every other event at its alias's
/// action path, with `{user, source, note}` (and snooze's `endTime`).
#[test]
fn opsgenie_sends_every_event_where_its_alert_api_takes_it() {
    let mut hook = webhook("opsgenie", json!({}));
    hook.settings.url = "https://api.opsgenie.com/v2/alerts".into();
    for input in inputs() {
        for event in every_event()
            .into_iter()
            .filter(|e| Format::Opsgenie.carries(*e))
        {
            let a = alert(input.clone(), event);
            let out = rendered(&hook, &a, event).unwrap_or_else(|e| panic!("{e}"));
            let sent: Value = serde_json::from_slice(&out.body).unwrap();
            let alias = a.input.dedup_key.as_deref().unwrap_or(&a.id);
            let action = match event {
                EventType::AlertAcknowledged => Some("acknowledge"),
                EventType::AlertUnacknowledged => Some("unacknowledge"),
                EventType::AlertResolved | EventType::AlertIgnored => Some("close"),
                EventType::AlertSilenced => Some("snooze"),
                EventType::AlertUnsilenced | EventType::AlertEscalated => Some("notes"),
                _ => None,
            };
            let Some(action) = action else {
                assert_eq!(out.url, hook.settings.url, "{event}");
                assert!((1..=130).contains(&chars(&sent["message"])));
                assert!(alias.starts_with(sent["alias"].as_str().unwrap()));
                assert!(chars(&sent["alias"]) <= 512);
                assert!(chars(&sent["description"]) <= 15000);
                let tags = sent["tags"].as_array().unwrap();
                assert!(tags.len() <= 20 && tags.iter().all(|t| chars(t) <= 50));
                assert!(
                    ["P1", "P2", "P3", "P4", "P5"].contains(&sent["priority"].as_str().unwrap())
                );
                assert!(sent["details"]
                    .as_object()
                    .unwrap()
                    .values()
                    .all(Value::is_string));
                continue;
            };
            let path = reqwest::Url::parse(&out.url).unwrap();
            let segments: Vec<&str> = path.path_segments().unwrap().collect();
            assert_eq!(segments.len(), 4, "{event}: {}", out.url);
            assert_eq!(&segments[..2], ["v2", "alerts"]);
            // The alias is one segment, whatever it holds (truncated to Opsgenie's 512).
            let decoded = percent_encoding::percent_decode_str(segments[2])
                .decode_utf8()
                .unwrap();
            assert!(
                !decoded.is_empty() && alias.starts_with(&*decoded),
                "{event}: {decoded}"
            );
            assert_eq!(
                (segments[3], path.query()),
                (action, Some("identifierType=alias")),
                "{event}"
            );
            assert!(chars(&sent["note"]) <= 25000 && chars(&sent["user"]) <= 100);
            assert_eq!(sent["source"], "Hookline");
            let mut keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
            keys.sort();
            if event == EventType::AlertSilenced {
                assert_eq!(keys, ["endTime", "note", "source", "user"]);
                assert!(is_time(&sent["endTime"]), "{sent}");
            } else {
                assert_eq!(keys, ["note", "source", "user"], "{event}");
            }
        }
    }
}

#[test]
fn alertmanager_webhook_v4_fields() {
    let hook = webhook("alertmanager", json!({}));
    for input in inputs() {
        for event in every_event() {
            let a = alert(input.clone(), event);
            let sent = body(&hook, &a, event);
            assert_eq!(sent["version"], "4");
            let status = if event == EventType::AlertResolved {
                "resolved"
            } else {
                "firing"
            };
            assert_eq!(sent["status"], status, "{event}");
            assert_eq!(sent["receiver"], "receiver");
            assert!(sent["groupKey"].is_string() && sent["externalURL"].is_string());
            assert_eq!(sent["truncatedAlerts"], 0);
            for map in ["groupLabels", "commonLabels", "commonAnnotations"] {
                assert!(sent[map]
                    .as_object()
                    .unwrap()
                    .values()
                    .all(Value::is_string));
            }
            let one = &sent["alerts"][0];
            assert_eq!(one["status"], status);
            assert_eq!(one["labels"]["alertname"], a.input.alert_type);
            assert!(one["annotations"]["description"].is_string());
            assert!(is_time(&one["startsAt"]) && is_time(&one["endsAt"]));
            assert!(one["generatorURL"].is_string());
            let fingerprint = one["fingerprint"].as_str().unwrap();
            assert!(fingerprint.len() == 16 && fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }
}

#[test]
fn boxwatch_is_the_seed_payload() {
    let hook = webhook("boxwatch", json!({"account_email": "ops@example.com"}));
    let input = json!({"type": "cpu_high", "message": "CPU usage at 92% (threshold: 80%)",
        "source": {"id": 12, "hostname": "web-01.prod", "ip": "10.0.1.5", "group": "Production"}});
    let sent = body(
        &hook,
        &alert(input, EventType::AlertTriggered),
        EventType::AlertTriggered,
    );
    assert_eq!(
        sent,
        json!({
            "event": "alert.triggered",
            "timestamp": "2026-11-23T10:00:00Z",
            "alert": {"type": "cpu_high", "message": "CPU usage at 92% (threshold: 80%)"},
            "server": {"id": 12, "hostname": "web-01.prod", "ip": "10.0.1.5", "group": "Production"},
            "account": {"email": "ops@example.com"}
        })
    );
    // The seed's own example, as its documentation prints it: every delivery has exactly
    // its keys, each of the same JSON type.
    let seed = json!({
        "event": "alert.triggered",
        "timestamp": "2026-05-24T18:42:11Z",
        "alert": {"type": "cpu_high", "message": "CPU usage at 92% (threshold: 80%)"},
        "server": {"id": 12, "hostname": "web-01.prod", "ip": "10.0.1.5", "group": "Production"},
        "account": {"email": "[email protected]"}
    });
    fn shape(value: &Value) -> Value {
        match value {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), shape(v))).collect(),
            Value::Null => json!("null"),
            Value::Bool(_) => json!("boolean"),
            Value::Number(_) => json!("number"),
            Value::String(_) => json!("string"),
            Value::Array(_) => json!("array"),
        }
    }
    let bare = webhook("boxwatch", json!({}));
    for hook in [&hook, &bare] {
        for input in inputs() {
            for event in every_event() {
                let sent = body(hook, &alert(input.clone(), event), event);
                assert_eq!(sent["event"], event.as_str());
                assert_eq!(shape(&sent), shape(&seed), "{event}: {sent}");
            }
        }
    }
}

#[test]
fn templates_render_text_headers_and_errors() {
    let mut hook = webhook("standard", json!({"channel": "#ops"}));
    hook.settings.template = Some(
        "{{ event.type }} {{ alert.type }} to {{ webhook.metadata.channel }} #{{ delivery.attempt }}".into(),
    );
    hook.settings
        .headers
        .insert("X-Alert".into(), "{{ alert.id }}".into());
    let a = alert(inputs()[0].clone(), EventType::AlertTriggered);
    let out = rendered(&hook, &a, EventType::AlertTriggered).unwrap();
    assert_eq!(out.body, b"alert.triggered cpu_high to #ops #1");
    assert_eq!(out.content_type, "text/plain");
    assert_eq!(out.headers, vec![("X-Alert".to_string(), a.id.clone())]);
    hook.settings.content_type = Some("text/markdown; charset=utf-8".into());
    let out = rendered(&hook, &a, EventType::AlertTriggered).unwrap();
    assert_eq!(out.content_type, "text/markdown; charset=utf-8");
    hook.settings.template = Some(r#"{"text": {{ alert.message|tojson }}}"#.into());
    let out = rendered(&hook, &a, EventType::AlertTriggered).unwrap();
    assert_eq!(out.content_type, "application/json");
    let bare = alert(inputs()[2].clone(), EventType::AlertTriggered);
    hook.settings.template =
        Some("{{ alert.labels.team|default('nobody') }} paged: {{ alert.message }}".into());
    let out = rendered(&hook, &bare, EventType::AlertTriggered).unwrap();
    assert_eq!(out.body, b"nobody paged: disk");
    hook.settings.template = Some("{{ alert.nothing.here }}".into());
    let err = rendered(&hook, &a, EventType::AlertTriggered).unwrap_err();
    assert!(
        err.starts_with("Template Warning: template: undefined value"),
        "{err}"
    );
    // A header's error says what failed, never the header's (secret) template.
    hook.settings.template = None;
    hook.settings.headers.insert(
        "Authorization".into(),
        "Bearer s3cret-{{ fail('s3cret-too') }}".into(),
    );
    let err = rendered(&hook, &a, EventType::AlertTriggered).unwrap_err();
    assert!(
        err.starts_with("Template Warning: header Authorization:"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
