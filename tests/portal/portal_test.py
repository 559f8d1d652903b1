"""The portal in a real browser: Debian's Chromium driven by Playwright (no browser
download). Run by scripts/test.sh against the stack it started; saves screenshots of the
main pages to docs/portal/ for the README.

Receivers, senders and alerts put script into every field they control; the test checks
that nothing executes (no dialog, no global set, no injected element) on any page.
"""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from playwright.sync_api import sync_playwright

API = os.environ["HOOKLINE_API_URL"]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "portal"
ADMIN = [str(ROOT / "target/debug/hookline-admin"), "--table", os.environ["TABLE_NAME"]]
XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=1">\'><svg onload=window.__xss=1>'
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def admin(*args):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "hooklineadmin"}
    out = subprocess.run(ADMIN + list(args), check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def api(method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def eventually(what, check, within=30):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver(http.server.ThreadingHTTPServer):
    """Answers with script in its body and headers; `status` can be changed."""

    def __init__(self):
        self.status = 200
        self.got = []
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.got.append((dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("X-Echo", XSS)
        self.end_headers()
        self.wfile.write(f"<html><body>{XSS}</body></html>".encode())

    def log_message(self, *args):
        pass


def main():
    account = admin("create-account", "--name", "portal " + XSS)["account_id"]
    writer = admin("create-token", "--account", account)["token"]
    reader = admin("create-token", "--account", account, "--scope", "webhook-readonly")["token"]
    other_account = admin("create-account", "--name", "other")["account_id"]
    other = admin("create-token", "--account", other_account)["token"]
    receiver = Receiver()
    ops = Receiver()
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)

        def new_page():
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            return page

        def clean(page, where):
            """Nothing a sender or receiver wrote ran or became markup."""
            assert page.evaluate("() => window.__xss") is None, f"script ran on {where}"
            assert page.locator("img[src=x]").count() == 0, f"an injected <img> on {where}"
            assert page.locator("main script, main svg[onload]").count() == 0, f"injected markup on {where}"
            assert not dialogs, f"a dialog opened on {where}: {dialogs}"

        def go(page, path):
            response = page.goto(API + path, timeout=15000)
            clean(page, path)
            return response

        def submit(page, selector):
            """Clicks a submit button and waits for the answer."""
            with page.expect_navigation(timeout=15000):
                page.click(selector, no_wait_after=True, timeout=5000)
            clean(page, selector)

        page = new_page()
        # Security headers on every page.
        response = go(page, "/portal/sign-in")
        csp = response.headers["content-security-policy"]
        assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp
        assert response.headers["x-frame-options"] == "DENY"
        # No session: to sign-in.
        go(page, "/portal/webhooks")
        assert page.url.endswith("/portal/sign-in"), page.url
        page.fill("#token", "hkl_not-a-token")
        submit(page, "button[type=submit]")
        assert "not valid" in page.content()
        page.fill("#token", writer)
        submit(page, "button[type=submit]")
        assert page.url.endswith("/portal/webhooks"), page.url
        cookie = next(c for c in page.context.cookies() if c["name"] == "hookline_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time()
        assert writer not in cookie["value"]

        # Create a webhook: a bad field is shown inline, from the API's envelope.
        go(page, "/portal/webhooks/new")
        page.fill("#name", "Receiver " + XSS)
        page.fill("#url", receiver.url)
        page.fill("#headers", "X-Token: s3cret-header-value")
        page.fill("#metadata", "{not json")
        submit(page, "button[value=save]")
        assert "metadata: is not JSON" in page.content()
        page.fill("#metadata", '{"team": "ops"}')
        page.fill("#alert_types", "x" * 200)
        submit(page, "button[value=save]")
        clean(page, "the refused form")
        assert page.locator(".error", has_text="alert_types").count() >= 1, page.url
        page.fill("#alert_types", "")
        submit(page, "button[value=save]")
        assert re.search(r"/portal/webhooks/[0-9a-f-]{36}$", page.url), page.url
        webhook_id = page.url.rsplit("/", 1)[1]
        clean(page, "the webhook page")
        assert "s3cret-header-value" not in page.content()

        # A second webhook hears operational events about the first.
        status, _ = api("POST", "/webhooks", writer, {"name": "ops", "url": ops.url,
                        "alert_types": ["none"], "events": ["delivery.exhausted", "webhook.recovered"]})
        assert status == 201

        # Send a test: the receiver's hostile answer is shown as text.
        submit(page, "button:has-text('Send a test')")
        assert "Test sent" in page.content()
        clean(page, "the test result")
        go(page, page.locator("text=See the delivery").get_attribute("href"))
        clean(page, "the delivery")
        # The receiver's hostile body and headers, as text.
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page.content()
        page.screenshot(path=str(SHOTS / "delivery.png"), full_page=True)
        assert "s3cret-header-value" not in page.content()
        assert "********" in page.content()
        submit(page, "button:has-text('Redeliver')")
        assert "Redelivery queued" in page.content()
        eventually("the redelivery", lambda: len(receiver.got) >= 2)

        # Alerts with script in every field; then an outage and a recovery.
        before = datetime.now(timezone.utc) - timedelta(seconds=2)
        receiver.status = 503
        for n in range(2):
            status, _ = api("POST", "/alerts", writer, {"type": "xss_test", "title": f"{XSS} {n}", "message": XSS,
                            "labels": {"host": XSS}, "source": {"name": XSS}})
            assert status == 202
        eventually("both deliveries to fail", lambda: api("GET", f"/webhooks/{webhook_id}/deliveries?state=failed",
                   writer)[1]["deliveries"].__len__() >= 2, within=40)
        receiver.status = 200
        sent = len(receiver.got)
        go(page, f"/portal/webhooks/{webhook_id}/deliveries?state=failed")
        assert page.locator("table.list tbody tr").count() >= 2
        page.screenshot(path=str(SHOTS / "deliveries.png"), full_page=True)
        go(page, f"/portal/webhooks/{webhook_id}/recover")
        page.fill("#since", before.strftime("%Y-%m-%dT%H:%M:%SZ"))
        submit(page, "button:has-text('Recover')")
        assert re.search(r"2 deliveries queued", page.content()), page.locator("main").inner_text()
        eventually("the recovered deliveries", lambda: len(receiver.got) >= sent + 2)
        eventually("webhook.recovered", lambda: any(json.loads(b)["type"] == "webhook.recovered" for _, b in ops.got))

        # The webhooks list: health and sparkline.
        go(page, "/portal/webhooks")
        assert page.locator("svg.spark").count() >= 1
        page.screenshot(path=str(SHOTS / "webhooks.png"), full_page=True)
        go(page, f"/portal/webhooks/{webhook_id}")
        assert page.locator("svg.chart rect").count() >= 1
        page.screenshot(path=str(SHOTS / "webhook.png"), full_page=True)
        go(page, f"/portal/webhooks/{webhook_id}?range=7d")

        # Alerts: escalated script stays text; the action buttons act.
        go(page, "/portal/alerts")
        assert "&lt;script&gt;" in page.content()
        page.screenshot(path=str(SHOTS / "alerts.png"), full_page=True)
        alert_path = page.locator("table.list a").first.get_attribute("href")
        go(page, alert_path)
        clean(page, "an alert")
        submit(page, "button:has-text('acknowledge')")
        clean(page, "an acknowledged alert")
        assert page.locator(".badge.acknowledged").count() >= 1, page.locator("main").inner_text()
        page.screenshot(path=str(SHOTS / "alert.png"), full_page=True)
        # The list by state (the state index): the acknowledged alert, and nothing else.
        go(page, "/portal/alerts?state=acknowledged")
        assert page.locator("table.list .badge.acknowledged").count() >= 1, page.locator("main").inner_text()
        assert page.locator("table.list .badge.triggered").count() == 0, page.locator("main").inner_text()
        go(page, alert_path)
        clean(page, "the alert again")
        # Highlight's ignore, and back.
        submit(page, "button:has-text('ignore')")
        clean(page, "an ignored alert")
        assert page.locator(".badge.ignored").count() >= 1, page.locator("main").inner_text()
        submit(page, "button:has-text('unignore')")
        clean(page, "an unignored alert")
        assert page.locator(".badge.triggered").count() >= 1, page.locator("main").inner_text()

        # The template editor: preview a draft, test a filter, then save.
        go(page, f"/portal/webhooks/{webhook_id}/edit")
        page.fill("#template", "{{ alert.title }} is {{ alert.state }}")
        submit(page, "button[value=preview]")
        clean(page, "a preview")
        assert "is triggered" in page.locator("pre.body").inner_text()
        page.fill("#filter", '{"type": {"$eq": "nothing"}}')
        submit(page, "button[value=filter]")
        assert "Would not be sent" in page.content()
        page.fill("#template", "{{ alert.title ")
        submit(page, "button[value=preview]")
        assert "Template Warning" in page.content() or "template" in page.locator("p.error").inner_text()
        # A condition is its own check, and a bad one is refused beside its field.
        page.fill("#template", "{{ alert.title }}")
        page.fill("#condition", "{{ alert.severity == 'nothing' }}")
        submit(page, "button[value=filter]")
        assert "Would not be sent" in page.content()
        assert page.locator("dl.fields dt:has-text('condition') + dd .error").count() == 1, page.content()
        page.fill("#condition", "alert.severity ==")
        submit(page, "button[value=save]")
        assert page.locator("span.error").filter(has_text="syntax").count() >= 1, page.locator("main").inner_text()
        page.fill("#condition", "")
        page.fill("#filter", "")
        page.screenshot(path=str(SHOTS / "editor.png"), full_page=True)
        submit(page, "button[value=save]")
        assert page.url.endswith(webhook_id), page.url
        _, saved = api("GET", f"/webhooks/{webhook_id}", writer)
        assert saved["template"] == "{{ alert.title }}" and saved["headers"] == {"X-Token": "********"}

        # Disable and enable.
        submit(page, "button:has-text('Disable')")
        assert api("GET", f"/webhooks/{webhook_id}", writer)[1]["enabled"] is False
        submit(page, "button:has-text('Enable')")
        assert api("GET", f"/webhooks/{webhook_id}", writer)[1]["enabled"] is True

        # Secret: reveal and rotate behind a confirm step.
        _, real = api("GET", f"/webhooks/{webhook_id}/secret", writer)
        go(page, f"/portal/webhooks/{webhook_id}/secret")
        assert real["secret"] not in page.content()
        submit(page, "button:has-text('Reveal secret')")
        assert real["secret"] in page.content()
        go(page, f"/portal/webhooks/{webhook_id}/rotate")
        submit(page, "button:has-text('Rotate secret')")
        _, rotated = api("GET", f"/webhooks/{webhook_id}/secret", writer)
        assert rotated["secret"] != real["secret"] and rotated["secret"] in page.content()

        # CSRF: a post without the token, or from another origin, is refused and changes nothing.
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        r = page.request.post(f"{API}/portal/webhooks/{webhook_id}/disable", form={})
        assert r.status == 403, r.status
        r = page.request.post(f"{API}/portal/webhooks/{webhook_id}/disable", form={"csrf": "forged"})
        assert r.status == 403, r.status
        r = page.request.post(f"{API}/portal/webhooks/{webhook_id}/disable", form={"csrf": csrf},
                              headers={"Origin": "https://evil.example"})
        assert r.status == 403, r.status
        assert api("GET", f"/webhooks/{webhook_id}", writer)[1]["enabled"] is True

        # Sign out ends the session.
        submit(page, "button:has-text('Sign out')")
        go(page, "/portal/webhooks")
        assert page.url.endswith("/portal/sign-in")

        # Read-only: no write buttons, and a forged write is refused by the API's scope.
        ro = new_page()
        go(ro, "/portal/sign-in")
        ro.fill("#token", reader)
        submit(ro, "button[type=submit]")
        assert "read-only" in ro.content()
        assert ro.locator("a:has-text('New webhook')").count() == 0
        go(ro, f"/portal/webhooks/{webhook_id}")
        assert ro.locator("button:has-text('Disable')").count() == 0
        ro_csrf = ro.locator("input[name=csrf]").first.get_attribute("value")
        for action in ["disable", "test", "rotate", "secret"]:
            r = ro.request.post(f"{API}/portal/webhooks/{webhook_id}/{action}", form={"csrf": ro_csrf})
            assert r.status == 403, (action, r.status)
        assert rotated["secret"] not in ro.content()
        assert api("GET", f"/webhooks/{webhook_id}", writer)[1]["enabled"] is True
        # A read-only session's preview of a body of its own shows no usable signature,
        # and no webhook URL beyond its host.
        r = ro.request.post(f"{API}/portal/webhooks/{webhook_id}/edit",
                            form={"csrf": ro_csrf, "do": "preview", "name": "x", "url": "https://example.com/",
                                  "format": "standard",
                                  "template": '{"type": "alert.resolved", "forged": true}'})
        shown = r.text()
        assert r.status == 200 and "forged" in shown, (r.status, shown[:300])
        assert "v1,********" in shown and not re.search(r"v1,[A-Za-z0-9+/]{20,}", shown), shown

        # Another account sees nothing of this one.
        cross = new_page()
        go(cross, "/portal/sign-in")
        cross.fill("#token", other)
        submit(cross, "button[type=submit]")
        for path in [f"/portal/webhooks/{webhook_id}", f"/portal/webhooks/{webhook_id}/deliveries"]:
            r = cross.goto(API + path)
            assert r.status == 404, (path, r.status)
        go(cross, "/portal/webhooks")
        other_csrf = cross.locator("input[name=csrf]").first.get_attribute("value")
        r = cross.request.post(f"{API}/portal/webhooks/{webhook_id}/disable", form={"csrf": other_csrf})
        assert r.status == 404, r.status

        # A portal link: one use, then refused.
        link = admin("portal-link", "--account", account, "--base-url", API)["url"]
        linked = new_page()
        go(linked, link.removeprefix(API))
        submit(linked, "button:has-text('Continue')")
        assert linked.url.endswith("/portal/webhooks"), linked.url
        assert "Receiver" in linked.content()
        again = new_page()
        go(again, link.removeprefix(API))
        submit(again, "button:has-text('Continue')")
        assert "not valid" in again.content()
        # The API route mints read-only links for read-only tokens.
        status, minted = api("POST", "/portal-links", reader, {})
        assert status == 201 and minted["read_only"] is True, minted
        status, _ = api("POST", "/portal-links", reader, {"read_only": False})
        assert status == 403

        # Revoking the token ends its sessions.
        fresh = admin("create-token", "--account", account)
        revoked = new_page()
        go(revoked, "/portal/sign-in")
        revoked.fill("#token", fresh["token"])
        submit(revoked, "button[type=submit]")
        assert revoked.url.endswith("/portal/webhooks")
        admin("revoke-token", "--account", account, "--token-id", fresh["token_id"])
        go(revoked, "/portal/webhooks")
        assert revoked.url.endswith("/portal/sign-in"), revoked.url

        go(new_page(), "/portal/sign-in")
        browser.close()
    print("portal: every browser check passed; screenshots in docs/portal/")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL {e}", file=sys.stderr)
        raise
