"""The `webhook` channel: the batch POSTed as JSON to a local receiver; 2xx hands it over,
5xx and timeouts are retried under the same Idempotency-Key, 4xx fails it (SPEC §5)."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from jobs.channels import channel_for
from jobs.sender import send_due
from models import SendBatch, db
from tests.engine_support import added, delivery_rows, doc, events, load, local, run_tick, sop, step

START = local(2025, 3, 1, 8)
TEN = local(2025, 3, 1, 10)


class Receiver:
    """Records every POST; answers with the next queued status (200 when none is queued)."""

    def __init__(self):
        self.posts, self.answers = [], []
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wsgi(self, environ, start_response):
        request = Request(environ)
        self.posts.append({"key": request.headers.get("Idempotency-Key"),
                           "body": json.loads(request.get_data())})
        status = self.answers.pop(0) if self.answers else 200
        return Response("{}", status, mimetype="application/json")(environ, start_response)


@pytest.fixture
def receiver():
    hook = Receiver()
    yield hook
    hook.server.shutdown()


def set_up(url) -> None:
    settings = {"channel": "webhook", "webhook_url": url}
    load(doc([sop("care", target={"tags_any": ["VIP"]}, steps=[step(0, "10:00", text="提醒")])],
             settings=settings), START)
    run_tick(START + timedelta(minutes=1))
    events(added("c1", tags=["VIP"]), added("c2", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))


def send(app, now):
    result = send_due(db.session, now, lambda name: channel_for(name, app))
    db.session.expire_all()
    return result


def test_a_batch_is_posted_as_json_and_queued_on_2xx(app, receiver):
    set_up(receiver.url)
    assert send(app, TEN)["queued"] == 1
    [post] = receiver.posts
    batch = db.session.scalar(select(SendBatch))
    assert post["key"] == f"send-batch-{batch.id}"
    assert (post["body"]["sop"], post["body"]["sender"], post["body"]["text"],
            post["body"]["customers"]) == ("care", "zhangsan", "提醒", ["c1", "c2"])
    assert {d.status for d in delivery_rows()} == {"queued"}


def test_a_5xx_is_posted_again_under_the_same_key(app, receiver):
    set_up(receiver.url)
    receiver.answers = [503]
    assert send(app, TEN)["retry_later"] == 1
    assert {d.status for d in delivery_rows()} == {"pending"}
    assert send(app, TEN + timedelta(minutes=5))["queued"] == 1
    assert [p["key"] for p in receiver.posts] == [receiver.posts[0]["key"]] * 2
    assert {d.status for d in delivery_rows()} == {"queued"}


def test_a_4xx_fails_the_batch_with_the_reason(app, receiver):
    set_up(receiver.url)
    receiver.answers = [422]
    assert send(app, TEN)["failed"] == 1
    assert {(d.status, d.reason) for d in delivery_rows()} == {("failed", "webhook: http 422")}
    assert send(app, TEN + timedelta(minutes=5)).get("queued", 0) == 0  # not tried again
