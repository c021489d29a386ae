"""The `webhook` channel: POST the batch as JSON to the configured URL; 2xx = handed over.

A webhook cannot be asked afterwards what it received, so a retried batch is
posted again with the same `Idempotency-Key` (`send-batch-<id>`): the receiver
drops the repeat. 4xx is a refusal; 5xx, timeouts and lost connections are retried.
"""
from __future__ import annotations

import requests

from jobs.channels import Content, NotSent, Outcome, OutcomeUnknown, Rejected
from models import Settings, db

TIMEOUT = 10  # seconds


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str | None):
        self.url = url

    @classmethod
    def from_app(cls, app):
        return cls(Settings.get(db.session).webhook_url)

    def deliver(self, session, batch, recipients, content: Content, now) -> Outcome:
        if not self.url:
            raise NotSent("no webhook URL configured")
        body = {"batch": batch.id, "sop": batch.sop.key if batch.sop else None,
                "journey": batch.journey.key if batch.journey else None,
                "group_send": batch.group_send.key if batch.group_send else None,
                "sender": batch.sender.userid if batch.sender else None,
                "due_at": batch.not_before.isoformat(), "title": content.title,
                "text": content.text, "attachments": list(content.attachments),
                "customers": [r.external_id for r in recipients]}
        try:
            answer = requests.post(self.url, json=body, timeout=TIMEOUT,
                                   headers={"Idempotency-Key": f"send-batch-{batch.id}"})
        except requests.ConnectionError as exc:
            raise OutcomeUnknown(f"webhook: {exc.__class__.__name__}") from exc
        except requests.Timeout as exc:
            raise OutcomeUnknown("webhook: timed out") from exc
        if 200 <= answer.status_code < 300:
            return Outcome(ref=f"http {answer.status_code}")
        if answer.status_code == 429:
            raise NotSent("webhook: 429 too many requests")
        if answer.status_code >= 500:
            raise OutcomeUnknown(f"webhook: http {answer.status_code}")
        raise Rejected(f"webhook: http {answer.status_code}")

    def find_previous(self, session, batch, recipients, content):
        return None  # posted again under the same idempotency key
