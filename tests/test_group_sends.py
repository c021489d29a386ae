"""Manual group sends (SPEC §10) through the engine: the shared quota with SOP messages
(priority decides, the loser is deferred), the preview, held customers without an
owner, batches and the exactly-once sender (a real RQ worker)."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from jobs import group_sends
from jobs.queues import SEND_QUEUE, AppWorker, queue, redis_connection
from jobs.send_jobs import enqueue_due
from models import AuditLog, Delivery, Employee, QuotaLedger, SendBatch, Task, db
from tests.engine_support import (
    added, customer, deliveries, doc, events, load, local, run_tick, send, sop, step,
)
from tests.group_send_support import body, create, group_send_deliveries

ONE_A_DAY = {"quota": {"limit": 1, "period": "day"}}
START = local(2025, 3, 1, 8)


def set_up(priority: int = 0, customers=("c",), at: str = "15:00") -> None:
    """An SOP message at `at` today for VIP customers, planned by the 9:05 tick."""
    load(doc([sop("a", target={"tags_any": ["VIP"]}, priority=priority,
                  steps=[step(0, at, text="SOP 你好")])], settings=ONE_A_DAY), START)
    run_tick(START + timedelta(minutes=1))
    events(*[added(c, tags=["VIP"]) for c in customers], now=local(2025, 3, 1, 9))


def test_a_group_send_of_lower_priority_waits_behind_the_sop_message():
    set_up(priority=5)
    now = local(2025, 3, 1, 9, 1)
    gs = create(now, priority=1)  # before the tick writes the SOP's delivery
    run_tick(local(2025, 3, 1, 9, 5))
    assert deliveries("a", "c") == [(0, local(2025, 3, 1, 15), "pending")]
    deferred = group_send_deliveries("gs1", "c")[0]
    assert (deferred.status, deferred.due_at) == ("deferred", local(2025, 3, 2, 9, 1))
    assert deferred.reason == "quota: 1 per day reached"
    assert gs.matched == 1
    run_tick(local(2025, 3, 2, 9, 2))  # the next day has room: it goes out then
    send(local(2025, 3, 2, 9, 3))
    assert group_send_deliveries("gs1", "c")[0].status == "queued"
    cid = customer("c").id
    assert dict(db.session.execute(select(QuotaLedger.period_start, QuotaLedger.used)
                                   .where(QuotaLedger.customer_id == cid)).all()) == {
        date(2025, 3, 1): 1, date(2025, 3, 2): 1}


def test_a_group_send_of_higher_priority_wins_the_day_and_the_sop_message_waits():
    set_up(priority=0)
    run_tick(local(2025, 3, 1, 9, 5))  # the SOP message is already charged for 15:00
    gs = create(local(2025, 3, 1, 9, 10), priority=9)
    assert (gs.today, gs.deferred) == (1, 0)  # the preview saw it win
    run_tick(local(2025, 3, 1, 9, 11))
    # the SOP's charge was made but not sent yet: the batch gives it back when re-planned
    send(local(2025, 3, 1, 9, 12))
    assert group_send_deliveries("gs1", "c")[0].status == "queued"
    send(local(2025, 3, 1, 15))
    run_tick(local(2025, 3, 1, 15, 1))
    [(_, due, status)] = deliveries("a", "c")
    assert status == "deferred" and due == local(2025, 3, 2, 15)
    tasks = db.session.scalars(select(Task).where(Task.kind == "send")).all()
    assert [t.text for t in tasks] == ["双十二会员专享"]


def test_the_preview_counts_today_deferred_and_no_owner_and_writes_nothing():
    set_up(priority=5, customers=("c1", "c2", "c3"))
    events(added("orphan", owner=None, tags=["VIP"]), now=local(2025, 3, 1, 9))
    events(added("other", tags=["无关"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))  # c1..c3 get the SOP message (priority 5) today
    events(added("c4", tags=["投诉"]), now=local(2025, 3, 1, 9, 6))  # not in the SOP
    now = local(2025, 3, 1, 9, 7)
    target = {"tags_any": ["VIP", "投诉"]}
    spec, problems = group_sends.parse(body(priority=1, target=target), _known(), now)
    assert problems == []
    before = db.session.scalar(select(func.count(Delivery.id)))
    preview = group_sends.preview(db.session, now, spec)
    assert (preview.matched, preview.today, preview.deferred, preview.no_owner) == (5, 1, 3, 1)
    assert preview.deferred_to == ((date(2025, 3, 2), 3),)
    assert db.session.scalar(select(func.count(Delivery.id))) == before
    gs = create(now, priority=1, target=target)
    assert group_sends.answer(gs)["deferred_to"] == [{"date": "2025-03-02", "customers": 3}]
    run_tick(local(2025, 3, 1, 9, 8))
    statuses = sorted((d.customer.external_id, d.status, d.held_since is not None)
                      for d in group_send_deliveries("gs1"))
    assert statuses == [("c1", "deferred", False), ("c2", "deferred", False),
                        ("c3", "deferred", False), ("c4", "pending", False),
                        ("orphan", "pending", True)]


def test_chosen_senders_restrict_it_to_their_customers_and_the_owner_sends():
    load(doc(settings=ONE_A_DAY), START)
    events(added("z1", tags=["VIP"]), added("l1", owner="lisi", tags=["VIP"]),
           now=local(2025, 3, 1, 9))
    gs = create(local(2025, 3, 1, 9, 1), senders=["lisi"], batch={"size": 10})
    assert gs.matched == 1
    run_tick(local(2025, 3, 1, 9, 2))
    send(local(2025, 3, 1, 9, 3))
    [d] = group_send_deliveries("gs1")
    assert (d.customer.external_id, d.sender.userid, d.status) == ("l1", "lisi", "queued")


def test_a_later_at_waits_for_its_time_and_batches_by_its_own_size():
    load(doc(settings=ONE_A_DAY), START)
    events(*[added(f"c{i}", tags=["VIP"]) for i in range(3)], now=local(2025, 3, 1, 9))
    create(local(2025, 3, 1, 9, 1), at=local(2025, 3, 2, 10).isoformat(),
           batch={"size": 2, "interval_minutes": 30})
    run_tick(local(2025, 3, 1, 9, 2))
    assert db.session.scalar(select(func.count(SendBatch.id))) == 0  # not its day yet
    run_tick(local(2025, 3, 2, 8))
    batches = db.session.scalars(select(SendBatch).order_by(SendBatch.seq)).all()
    assert [(b.not_before, b.size) for b in batches] == [
        (local(2025, 3, 2, 10), 2), (local(2025, 3, 2, 10, 30), 1)]


def test_sent_exactly_once_by_a_real_worker_even_when_enqueued_again(app):
    load(doc(settings=ONE_A_DAY), START)
    events(*[added(f"c{i}", tags=["VIP"]) for i in range(3)], now=local(2025, 3, 1, 9))
    create(local(2025, 3, 1, 9, 1), batch={"size": 2})
    run_tick(local(2025, 3, 1, 9, 2))
    q = queue(app, SEND_QUEUE)
    q.empty()
    now = local(2025, 3, 1, 9, 3)
    assert enqueue_due(app, db.session, now) == 2
    AppWorker([q], connection=redis_connection(app)).work(burst=True)
    q.empty()
    db.session.expire_all()
    # a replay of the same batches (Redis flushed, a retried job) sends nothing again
    for batch_id in db.session.scalars(select(SendBatch.id)):
        from jobs.channels.task import TaskChannel
        from jobs.sender import send_batch
        assert send_batch(db.session, batch_id, now, lambda name: TaskChannel()) == "finished"
    run_tick(local(2025, 3, 1, 9, 4))
    assert enqueue_due(app, db.session, local(2025, 3, 1, 9, 5)) == 0
    db.session.expire_all()
    rows = group_send_deliveries("gs1")
    assert sorted(d.status for d in rows) == ["queued"] * 3
    assert db.session.scalar(select(func.count(Task.id)).where(Task.kind == "send")) == 2
    assert db.session.scalar(select(func.sum(QuotaLedger.used))) == 3


def test_creating_one_is_audited_and_a_repeated_key_changes_nothing():
    load(doc(settings=ONE_A_DAY), START)
    events(added("c", tags=["VIP"]), now=local(2025, 3, 1, 9))
    first = create(local(2025, 3, 1, 9, 1))
    again = create(local(2025, 3, 1, 9, 2), text="另一段话")
    assert again.id == first.id and again.text == "双十二会员专享"
    assert len(group_send_deliveries("gs1")) == 1
    audited = db.session.scalars(select(AuditLog.object_type).where(AuditLog.actor == "test",
                                 AuditLog.object_type.in_(("GroupSend", "Delivery")))).all()
    assert sorted(audited) == ["Delivery", "GroupSend"]


def test_a_held_customer_goes_out_once_a_new_owner_takes_it():
    load(doc(settings=ONE_A_DAY), START)
    events(added("c", tags=["VIP"]), now=local(2025, 3, 1, 9))
    db.session.scalar(select(Employee).where(Employee.userid == "zhangsan")).active = False
    db.session.commit()
    gs = create(local(2025, 3, 1, 9, 1))
    assert (gs.matched, gs.no_owner, gs.today) == (1, 1, 0)
    run_tick(local(2025, 3, 1, 9, 2))
    assert group_send_deliveries("gs1")[0].held_since is not None
    events({"type": "owner_changed", "external_id": "c", "owner": "lisi"},
           now=local(2025, 3, 1, 10))
    run_tick(local(2025, 3, 1, 10, 1))
    send(local(2025, 3, 1, 10, 2))
    [d] = group_send_deliveries("gs1")
    assert (d.status, d.sender.userid) == ("queued", "lisi")


def _known():
    from config_io.export import known_from_db
    return known_from_db(db.session)
