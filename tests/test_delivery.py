"""Delivery through the inbox channel: the quota planner, batches, the sender's re-check,
owner transfer and held sends, lateness, pause, and exactly-once replays (SPEC §5).

Real database, real Redis where a job is enqueued; times passed in.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from jobs.lifecycle import pause, resume
from jobs.queues import SEND_QUEUE, SendWorker, queue, redis_connection
from jobs.send_jobs import enqueue_due
from models import Delivery, Employee, QuotaLedger, SendBatch, db
from tests.engine_support import (
    added, count, customer, deliveries, delivery_rows, doc, dump, events, load, local, lost,
    run_tick, send, sop, sop_row, step, tasks,
)

ONE_A_DAY = {"quota": {"limit": 1, "period": "day"}}
START = local(2025, 3, 1, 8)


def nurture(key: str, at: str = "10:00", priority: int = 0, **fields) -> dict:
    return sop(key, target={"tags_any": ["VIP"]}, steps=[step(0, at, text=f"{key} 你好")],
               priority=priority, **fields)


def set_up(*sops, settings=ONE_A_DAY, customers=("c",), owner="zhangsan") -> None:
    load(doc(sops, settings=settings), START)
    run_tick(START + timedelta(minutes=1))
    events(*[added(c, owner=owner, tags=["VIP"]) for c in customers], now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))


def ledger() -> dict:
    return {(customer_id, period): used for customer_id, period, used in db.session.execute(
        select(QuotaLedger.customer_id, QuotaLedger.period_start, QuotaLedger.used))}


def sent_to(employee: str) -> list[tuple[str, list[str]]]:
    """(SOP key, customers) of the send tasks an employee got, in order."""
    return [(t.sop.key, [d.customer.external_id for d in t.deliveries])
            for t in tasks(kind="send") if t.employee.userid == employee]


# --- the quota planner ---------------------------------------------------------------
def test_two_sops_due_the_same_day_send_one_and_defer_the_other_to_the_next_day():
    set_up(nurture("a", "10:00"), nurture("b", "15:00"))
    assert deliveries("a", "c") == [(0, local(2025, 3, 1, 10), "pending")]
    assert deliveries("b", "c") == [(0, local(2025, 3, 2, 15), "deferred")]
    deferred = delivery_rows("c", status="deferred")[0]
    assert deferred.reason == "quota: 1 per day reached"
    assert deferred.first_due_at == local(2025, 3, 1, 15)  # lateness counts from here
    send(local(2025, 3, 1, 23))
    assert sent_to("zhangsan") == [("a", ["c"])]
    run_tick(local(2025, 3, 2, 0, 1))  # the new day: b is planned again and fits
    send(local(2025, 3, 2, 15))
    assert sent_to("zhangsan") == [("a", ["c"]), ("b", ["c"])]
    cid = customer("c").id
    assert ledger() == {(cid, date(2025, 3, 1)): 1, (cid, date(2025, 3, 2)): 1}


def test_the_higher_priority_wins_the_day_even_when_due_later():
    set_up(nurture("a", "10:00"), nurture("b", "15:00", priority=5))
    assert deliveries("b", "c") == [(0, local(2025, 3, 1, 15), "pending")]
    assert deliveries("a", "c") == [(0, local(2025, 3, 2, 10), "deferred")]


def test_a_weekly_quota_lets_two_through_then_waits_for_monday():
    set_up(nurture("a", "10:00"), nurture("b", "11:00"), nurture("c3", "12:00"),
           settings={"quota": {"limit": 2, "period": "week"}, "timezone": "Asia/Shanghai"})
    # 2025-03-01 is a Saturday: the week of Monday 02-24 has room for two
    assert [deliveries(k, "c")[0][2] for k in ("a", "b", "c3")] == ["pending", "pending",
                                                                    "deferred"]
    assert deliveries("c3", "c")[0][1] == local(2025, 3, 3, 12)  # Monday, same time


def test_a_delivery_more_than_max_lateness_days_late_expires():
    load(doc([nurture("a")], settings=ONE_A_DAY), START)
    run_tick(START + timedelta(minutes=1))
    events(added("c", tags=["VIP"]), now=local(2025, 3, 1, 9))
    run_tick(local(2025, 3, 1, 9, 5))
    # the workers were down: nothing was sent, the next tick comes four days later
    db.session.execute(SendBatch.__table__.delete())
    db.session.execute(Delivery.__table__.update().values(batch_id=None, charged_period=None))
    db.session.commit()
    run_tick(local(2025, 3, 5, 10))
    assert deliveries("a", "c") == [(0, local(2025, 3, 1, 10), "expired")]
    assert delivery_rows("c")[0].reason == "more than 3 days late"


# --- batches ---------------------------------------------------------------------------
def test_batches_of_two_every_ten_minutes_go_out_at_their_times():
    set_up(nurture("a", batch={"size": 2, "interval_minutes": 10}),
           customers=("c1", "c2", "c3", "c4", "c5"))
    batches = db.session.scalars(select(SendBatch).order_by(SendBatch.seq)).all()
    assert [(b.seq, b.not_before, b.size) for b in batches] == [
        (0, local(2025, 3, 1, 10), 2), (1, local(2025, 3, 1, 10, 10), 2),
        (2, local(2025, 3, 1, 10, 20), 1)]
    assert send(local(2025, 3, 1, 10, 5))["deliveries"] == 2
    assert sent_to("zhangsan") == [("a", ["c1", "c2"])]
    assert send(local(2025, 3, 1, 10, 25))["deliveries"] == 3
    assert [len(c) for _, c in sent_to("zhangsan")] == [2, 2, 1]


def test_one_sender_per_batch():
    set_up(nurture("a"), customers=("z1",))
    events(added("l1", owner="lisi", tags=["VIP"]), now=local(2025, 3, 1, 9, 10))
    run_tick(local(2025, 3, 1, 9, 15))
    send(local(2025, 3, 1, 10))
    assert (sent_to("zhangsan"), sent_to("lisi")) == ([("a", ["z1"])], [("a", ["l1"])])


# --- the re-check at send time -------------------------------------------------------
def test_a_customer_lost_after_planning_is_skipped_with_the_reason_and_gives_its_quota_back():
    set_up(nurture("a"), customers=("c1", "c2"))
    events(lost("c2"), now=local(2025, 3, 1, 9, 30))
    send(local(2025, 3, 1, 10))
    assert sent_to("zhangsan") == [("a", ["c1"])]
    skipped = delivery_rows("c2")[0]
    assert (skipped.status, skipped.reason) == ("skipped", "skipped: the customer is lost")
    assert ledger()[(customer("c2").id, date(2025, 3, 1))] == 0


def test_an_early_end_after_planning_cancels_the_send():
    set_up(nurture("a", early_end={"when": {"tags_any": ["投诉"]}}), customers=("c1", "c2"))
    events({"type": "tag_added", "external_id": "c2", "tags": ["投诉"]},
           now=local(2025, 3, 1, 9, 30))
    run_tick(local(2025, 3, 1, 9, 31))
    send(local(2025, 3, 1, 10))
    assert sent_to("zhangsan") == [("a", ["c1"])]
    assert delivery_rows("c2")[0].status == "cancelled"


# --- owners -------------------------------------------------------------------------------
def test_an_owner_change_moves_a_planned_send_to_the_new_owner():
    set_up(nurture("a"))
    events({"type": "owner_changed", "external_id": "c", "owner": "lisi"},
           now=local(2025, 3, 1, 9, 30))
    run_tick(local(2025, 3, 1, 9, 31))
    send(local(2025, 3, 1, 10))  # the batch re-checks: not zhangsan's any more
    run_tick(local(2025, 3, 1, 10, 1))
    send(local(2025, 3, 1, 10, 2))
    assert (sent_to("zhangsan"), sent_to("lisi")) == ([], [("a", ["c"])])
    assert ledger()[(customer("c").id, date(2025, 3, 1))] == 1  # charged once


def test_a_customer_whose_owner_left_is_held_and_sent_by_the_next_owner():
    load(doc([nurture("a")], settings=ONE_A_DAY), START)
    run_tick(START + timedelta(minutes=1))
    events(added("c", tags=["VIP"]), now=local(2025, 3, 1, 9))
    db.session.scalar(select(Employee).where(Employee.userid == "zhangsan")).active = False
    db.session.commit()
    run_tick(local(2025, 3, 1, 9, 5))
    held = delivery_rows("c")[0]
    assert (held.status, held.held_since, held.batch_id) == ("pending", local(2025, 3, 1, 9, 5),
                                                            None)
    assert held.reason == "held: the customer has no active owner"
    send(local(2025, 3, 1, 12))
    assert tasks(kind="send") == []  # never from a departed account
    events({"type": "owner_changed", "external_id": "c", "owner": "lisi"},
           now=local(2025, 3, 1, 12, 30))
    run_tick(local(2025, 3, 1, 12, 31))
    send(local(2025, 3, 1, 12, 32))
    assert sent_to("lisi") == [("a", ["c"])]
    assert delivery_rows("c")[0].held_since is None


# --- pause, replays ---------------------------------------------------------------------
def test_a_paused_sop_sends_nothing_until_resumed():
    set_up(nurture("a"))
    pause(db.session, sop_row("a"), local(2025, 3, 1, 9, 30))
    db.session.commit()
    assert send(local(2025, 3, 1, 10))["deliveries"] == 0
    assert tasks(kind="send") == []
    resume(db.session, sop_row("a"), local(2025, 3, 1, 11))
    db.session.commit()
    assert send(local(2025, 3, 1, 11, 1))["deliveries"] == 1


def test_ticks_and_sends_replayed_change_nothing():
    set_up(nurture("a"), nurture("b", "15:00"), customers=("c1", "c2"))
    send(local(2025, 3, 1, 16))
    run_tick(local(2025, 3, 1, 16))  # a's enrollments complete once handed over
    before = dump()
    ledger_before, batches = ledger(), count(SendBatch)
    run_tick(local(2025, 3, 1, 16))
    send(local(2025, 3, 1, 16))
    run_tick(local(2025, 3, 1, 9, 5))  # time going backwards undoes nothing
    send(local(2025, 3, 1, 16, 1))
    assert (dump(), ledger(), count(SendBatch)) == (before, ledger_before, batches)


def test_the_done_task_marks_its_deliveries_sent():
    from jobs.sender import mark_task_done

    set_up(nurture("a"), customers=("c1", "c2"))
    send(local(2025, 3, 1, 10))
    task = tasks(kind="send")[0]
    assert (task.title, task.text) == ("a · D0 10:00", "a 你好")
    assert mark_task_done(db.session, task, local(2025, 3, 1, 10, 30), by="zhangsan") == 2
    db.session.commit()
    assert {d.status for d in delivery_rows()} == {"sent"}
    assert db.session.scalar(select(SendBatch.status)) == "done"
    assert mark_task_done(db.session, task, local(2025, 3, 1, 11), by="zhangsan") == 0


# --- RQ ---------------------------------------------------------------------------------------
def test_due_batches_become_rq_jobs_of_a_few_batches_run_by_a_real_worker(app, monkeypatch):
    import jobs.send_jobs as send_jobs

    monkeypatch.setattr(send_jobs, "JOB_BATCHES", 2)
    set_up(nurture("a", batch={"size": 1, "interval_minutes": 0}),
           customers=("c1", "c2", "c3"))
    conn = redis_connection(app)
    q = queue(app, SEND_QUEUE)
    q.empty()
    now = local(2025, 3, 1, 10)
    b1, b2, b3 = db.session.scalars(select(SendBatch.id).order_by(SendBatch.id))
    assert enqueue_due(app, db.session, now) == 3
    assert enqueue_due(app, db.session, now) == 0  # already waiting: not twice
    assert sorted(q.job_ids) == sorted([f"send-batches-{b1}-{b2}", f"send-batch-{b3}"])
    assert send_jobs.carriers(conn, [b1, b2, b3]) == [
        f"send-batches-{b1}-{b2}", f"send-batches-{b1}-{b2}", f"send-batch-{b3}"]
    SendWorker([q], connection=conn).work(burst=True)
    db.session.expire_all()
    assert [b.status for b in db.session.scalars(select(SendBatch))] == ["queued"] * 3
    assert sorted(c for _, cs in sent_to("zhangsan") for c in cs) == ["c1", "c2", "c3"]
    assert enqueue_due(app, db.session, now) == 0  # nothing due any more


def test_an_early_end_gives_the_cancelled_send_its_quota_back_for_another_sop():
    set_up(nurture("a", "15:00", early_end={"when": {"tags_any": ["投诉"]}}),
           nurture("b", "16:00"))
    assert deliveries("b", "c") == [(0, local(2025, 3, 2, 16), "deferred")]
    events({"type": "tag_added", "external_id": "c", "tags": ["投诉"]},
           now=local(2025, 3, 1, 9, 30))
    run_tick(local(2025, 3, 1, 9, 31))
    assert delivery_rows("c", sop_id=sop_row("a").id)[0].status == "cancelled"
    assert ledger()[(customer("c").id, date(2025, 3, 1))] == 0


def test_an_enrollment_waiting_on_its_last_send_completes_once_that_closes_not_before():
    """complete_finished looks only at enrollments something happened to: the last step
    written, or (planner.wake) a delivery they waited on closed — not every waiting one."""
    from sqlalchemy import update

    from models import Enrollment

    set_up(nurture("a"), nurture("b", "15:00"), customers=("c1", "c2"))
    def status(c, key):
        return db.session.scalar(select(Enrollment.status).where(
            Enrollment.customer_id == customer(c).id, Enrollment.sop_id == sop_row(key).id))
    assert status("c1", "a") == "active"  # its one step written, the send still pending
    run_tick(local(2025, 3, 1, 9, 30))
    assert status("c1", "a") == "active"
    # closed behind the engine's back: nothing woke the enrollment, so no tick rescans it
    db.session.execute(update(Delivery).where(
        Delivery.customer_id == customer("c2").id, Delivery.sop_id == sop_row("a").id)
        .values(status="skipped"))
    db.session.commit()
    send(local(2025, 3, 1, 10))  # c1's goes out through the sender, which wakes it
    run_tick(local(2025, 3, 1, 10, 5))
    db.session.expire_all()
    assert (status("c1", "a"), status("c2", "a")) == ("completed", "active")
    # b's deferred sends expire or go out later; a step edit makes every one look again
    from jobs.planner import wake
    wake(db.session, [e.id for e in db.session.scalars(select(Enrollment).where(
        Enrollment.customer_id == customer("c2").id))])
    db.session.commit()
    run_tick(local(2025, 3, 1, 10, 6))
    db.session.expire_all()
    assert status("c2", "a") == "completed"
