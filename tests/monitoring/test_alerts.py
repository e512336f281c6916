from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kibble.config import Settings, load_settings
from kibble.context import Context
from kibble.errors import ConfigError, NotFoundError, UnsafeInputError, UsageError
from kibble.monitoring import (
    Point,
    ack_alert,
    default_rules,
    evaluate_rules,
    get_alert,
    list_alerts,
    raise_alert,
    record_metrics,
    resolve_alert,
)
from kibble.monitoring.notifiers import (
    OutboxNotifier,
    Target,
    WebhookNotifier,
    notifiers_from_settings,
    pin,
    read_outbox,
)
from kibble.store.repositories import AuditLog
from kibble.store.repositories.monitoring import AlertRecords


class Receiver:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxNotifier:
    return OutboxNotifier(tmp_path / "outbox.jsonl")


def test_raise_deduplicates_by_fingerprint_and_resolve_notifies_once(
    backend_settings: Settings, outbox: OutboxNotifier
) -> None:
    context = Context.open(backend_settings)
    first = raise_alert(
        context,
        "data_late",
        "data_late|table=events",
        "events late by 7h",
        {"lateness_hours": 7},
        "critical",
        notifiers=[outbox],
    )
    again = raise_alert(
        context,
        "data_late",
        "data_late|table=events",
        "events late by 9h",
        {"lateness_hours": 9},
        "critical",
        notifiers=[outbox],
    )
    assert first.new and not again.new
    assert again.alert["id"] == first.alert["id"]
    [active] = list_alerts(context)
    assert active["occurrences"] == 2
    assert active["message"] == "events late by 9h"
    assert active["evidence"] == {"lateness_hours": 9}
    assert [m["event"] for m in read_outbox(outbox.path)] == ["raised"]

    resolved = resolve_alert(context, "data_late|table=events", notifiers=[outbox])
    assert resolved is not None and resolved.alert["status"] == "resolved"
    assert resolve_alert(context, "data_late|table=events", notifiers=[outbox]) is None
    assert list_alerts(context) == []
    assert [a["status"] for a in list_alerts(context, None)] == ["resolved"]
    assert [m["event"] for m in read_outbox(outbox.path)] == ["raised", "resolved"]

    # The same problem coming back later is a new alert.
    back = raise_alert(
        context, "data_late", "data_late|table=events", "late again", notifiers=[outbox]
    )
    assert back.new and back.alert["id"] != first.alert["id"]
    context.close()


def test_a_repeat_at_higher_severity_escalates_and_notifies(
    context: Context, outbox: OutboxNotifier
) -> None:
    raise_alert(context, "drift", "drift", "price moved", severity="info", notifiers=[outbox])
    escalated = raise_alert(
        context, "drift", "drift", "price moved a lot", severity="critical", notifiers=[outbox]
    )
    calmer = raise_alert(context, "drift", "drift", "still", severity="warning", notifiers=[outbox])
    assert escalated.action == "escalated" and calmer.action == "repeated"
    assert [m["event"] for m in read_outbox(outbox.path)] == ["raised", "escalated"]
    assert list_alerts(context)[0]["occurrences"] == 3


def test_ack_keeps_alert_active_and_is_audited(context: Context, outbox: OutboxNotifier) -> None:
    outcome = raise_alert(context, "drift", "drift", "price drifted", notifiers=[outbox])
    acked = ack_alert(context, outcome.alert["id"], note="looking at the price feed")
    assert acked["status"] == "acked" and acked["acked_by"] == context.actor
    assert [a["status"] for a in list_alerts(context)] == ["acked"]
    assert not raise_alert(context, "drift", "drift", "still", notifiers=[outbox]).new
    with context.store.session() as session:
        [event] = AuditLog(session, context.project_id).list("alerts.ack")
        assert event.target == outcome.alert["id"]
        actions = [e.action for e in AlertRecords(session, context.project_id).events(acked["id"])]
    assert actions == ["raised", "acked", "repeated"]
    detail = get_alert(context, acked["id"][:12])
    assert detail["id"] == acked["id"] and detail["occurrences"] == 2
    assert [h["action"] for h in detail["history"]] == ["raised", "acked", "repeated"]
    assert detail["history"][1]["note"] == "looking at the price feed"
    resolve_alert(context, "drift", notifiers=[outbox])
    with pytest.raises(UsageError, match="already resolved"):
        ack_alert(context, outcome.alert["id"])
    with pytest.raises(NotFoundError):
        ack_alert(context, "0" * 32)


def test_alerts_are_scoped_to_their_project(context: Context, outbox: OutboxNotifier) -> None:
    outcome = raise_alert(context, "drift", "drift", "moved", notifiers=[outbox])
    other = Context.open(context.settings, project="other")
    assert list_alerts(other) == []
    with pytest.raises(NotFoundError):
        ack_alert(other, outcome.alert["id"])
    assert resolve_alert(other, "drift", notifiers=[]) is None
    other.close()


def test_bad_severity_and_fingerprint_are_refused(context: Context) -> None:
    with pytest.raises(UsageError, match="severity"):
        raise_alert(context, "drift", "x", "m", severity="urgent", notifiers=[])
    with pytest.raises(UsageError, match="kind"):
        raise_alert(context, "Data Late!", "x", "m", notifiers=[])
    with pytest.raises(UsageError, match="fingerprint"):
        raise_alert(context, "drift", "", "m", notifiers=[])


def test_rules_raise_and_auto_resolve_when_condition_clears(
    context: Context, outbox: OutboxNotifier
) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hour = timedelta(hours=1)
    labels = {"deployment": "home", "arm": "champion"}
    record_metrics(context, [Point("system.latency_p99_ms", 180.0, now - hour, now, labels)])
    rules = default_rules(latency_sla_ms=50)
    [(result, outcome)] = evaluate_rules(context, rules, now=now, notifiers=[outbox])
    assert result.firing and outcome is not None and outcome.new
    assert outcome.alert["kind"] == "latency_sla"
    assert outcome.alert["severity"] == "critical"
    assert outcome.alert["evidence"]["value"] == 180.0
    assert "deployment=home" in outcome.alert["fingerprint"]

    # Still breached an hour later: deduplicated, no second notification.
    record_metrics(context, [Point("system.latency_p99_ms", 120.0, now, now + hour, labels)])
    [(_, repeat)] = evaluate_rules(context, rules, now=now + hour, notifiers=[outbox])
    assert repeat is not None and repeat.action == "repeated"

    # Back under the SLA: the alert resolves by itself.
    later = now + 3 * hour
    record_metrics(context, [Point("system.latency_p99_ms", 30.0, later - hour, later, labels)])
    [(cleared, closed)] = evaluate_rules(context, rules, now=later, notifiers=[outbox])
    assert not cleared.firing and closed is not None and closed.action == "resolved"
    assert list_alerts(context) == []
    assert [m["event"] for m in read_outbox(outbox.path)] == ["raised", "resolved"]


def test_webhook_posts_json_to_a_real_server(tmp_path: Path, receiver: Receiver) -> None:
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "allow_private_urls": True,
            "monitoring.channels": "log,webhook",
            "monitoring.webhook_url": receiver.url,
        },
        environ={},
    )
    context = Context.open(settings)
    outcome = raise_alert(
        context,
        "error_rate",
        "error_rate|deployment=home",
        "5% errors",
        {"error_rate": 0.05},
        "critical",
    )
    resolve_alert(context, "error_rate|deployment=home")
    assert [b["event"] for b in receiver.bodies] == ["raised", "resolved"]
    body = receiver.bodies[0]["alert"]
    assert body["id"] == outcome.alert["id"]
    assert body["evidence"] == {"error_rate": 0.05}
    assert body["project"] == "default"
    context.close()


def test_webhook_guard_refuses_loopback_by_default(tmp_path: Path, receiver: Receiver) -> None:
    with pytest.raises(UnsafeInputError, match="internal address"):
        WebhookNotifier(receiver.url).send({"event": "raised"})
    assert receiver.bodies == []
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "monitoring.channels": "webhook",
            "monitoring.webhook_url": receiver.url,
        },
        environ={},
    )
    context = Context.open(settings)
    # The alert is kept even though its notification was refused; the refusal is recorded.
    outcome = raise_alert(context, "drift", "drift", "moved")
    assert receiver.bodies == []
    with context.store.session() as session:
        events = AlertRecords(session, context.project_id).events(outcome.alert["id"])
    assert [e.action for e in events] == ["raised", "notify_failed"]
    assert "internal address" in events[1].details["errors"][0]
    context.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "http://user:pw@example.com/x",
    ],
)
def test_webhook_refuses_unsafe_targets(url: str) -> None:
    with pytest.raises(UnsafeInputError):
        WebhookNotifier(url).send({"event": "raised"})


def test_public_ip_literal_is_used_as_is_and_private_when_allowed() -> None:
    assert pin("https://93.184.215.14/hook") == Target(
        "https://93.184.215.14/hook", "93.184.215.14", False
    )
    assert not pin("http://127.0.0.1:9/x", allow_private=True).pinned


def test_channels_from_settings(tmp_path: Path) -> None:
    settings = load_settings({"home": tmp_path, "monitoring.channels": "log,outbox"}, environ={})
    assert [n.name for n in notifiers_from_settings(settings)] == ["log", "outbox"]
    with pytest.raises(ConfigError, match="webhook_url"):
        notifiers_from_settings(
            load_settings({"home": tmp_path, "monitoring.channels": "webhook"}, environ={})
        )
    with pytest.raises(ConfigError, match="unknown alert channel"):
        notifiers_from_settings(
            load_settings({"home": tmp_path, "monitoring.channels": "pager"}, environ={})
        )


def test_pinned_target_connects_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS is the one thing a test cannot own, so the resolver is stubbed here only."""
    import socket

    answers: dict[str, list[str]] = {
        "hooks.example.com": ["93.184.215.14", "93.184.215.14"],
        # Public when the guard checks, loopback on the next lookup: DNS rebinding.
        "rebind.example.com": ["93.184.215.14", "127.0.0.1"],
    }

    def resolve(host: str, port: object, *args: object, **kwargs: object) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host].pop(0), 443))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    target = pin("https://hooks.example.com:8443/alerts?x=1")
    assert target.pinned
    assert target.url == "https://93.184.215.14:8443/alerts?x=1"
    assert target.host == "hooks.example.com:8443"
    with pytest.raises(UnsafeInputError, match="now resolves to an internal address"):
        pin("https://rebind.example.com/alerts")
    assert answers["rebind.example.com"] == []


def test_a_failing_receiver_is_recorded_and_other_channels_still_get_it(
    context: Context, outbox: OutboxNotifier
) -> None:
    failing = Receiver(status=500)
    try:
        webhook = WebhookNotifier(failing.url, allow_private=True)
        outcome = raise_alert(context, "drift", "drift", "moved", notifiers=[webhook, outbox])
    finally:
        failing.close()
    assert len(failing.bodies) == 1  # it was tried
    assert [m["event"] for m in read_outbox(outbox.path)] == ["raised"]
    detail = get_alert(context, outcome.alert["id"])
    assert [h["action"] for h in detail["history"]] == ["raised", "notify_failed"]
    assert "answered 500" in detail["history"][1]["errors"][0]


def test_a_resolved_alert_can_say_what_happened_and_keeps_what_it_said(context: Context) -> None:
    raise_alert(context, "data_late", "late|events|d1", "partition d1 has not arrived")
    resolved = resolve_alert(
        context, "late|events|d1", "the data is fixed", message="partition d1 arrived late"
    )
    assert resolved is not None and resolved.alert["message"] == "partition d1 arrived late"
    [stored] = list_alerts(context, None)
    assert stored["message"] == "partition d1 arrived late"
    with context.store.session() as session:
        events = AlertRecords(session, context.project_id).events(stored["id"])
        assert events[-1].details["was"] == "partition d1 has not arrived"
