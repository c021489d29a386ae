"""Channels: how a batch leaves the product (SPEC §5). One small interface, three kinds.

`deliver` hands one batch over and says who could not be reached; `find_previous`
answers, for a batch whose earlier call may have gone through unanswered (a
timeout, a 5xx, a killed worker), whether it did — so the sender reconciles
instead of sending twice. Exceptions say what is known about a failed call.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    customer_id: int
    external_id: str


@dataclass(frozen=True)
class Content:
    title: str
    text: str
    attachments: tuple[dict, ...] = ()  # {"kind", "title", "url", "content"} per material


@dataclass
class Outcome:
    ref: str  # WeCom msgid, inbox task id, webhook answer
    failed: dict[str, str] = field(default_factory=dict)  # external id -> reason
    task_id: int | None = None


class NotSent(Exception):
    """The call certainly did not go through (an error answer): try again later."""


class OutcomeUnknown(Exception):
    """No answer (timeout, 5xx, connection lost): it may have gone through."""


class Rejected(Exception):
    """A permanent refusal: trying again would fail the same way."""


def channel_for(name: str, app):
    if name == "task":
        from jobs.channels.task import TaskChannel
        return TaskChannel()
    if name == "wecom":
        from jobs.channels.wecom import WeComChannel
        return WeComChannel.from_app(app)
    if name == "webhook":
        from jobs.channels.webhook import WebhookChannel
        return WebhookChannel.from_app(app)
    raise ValueError(f"unknown channel '{name}'")
