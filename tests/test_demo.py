"""`flask seed demo` and the synthetic generator."""
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import or_, func, select

from models import (
    AuditLog, Customer, CustomerTag, Department, Employee, Journey, Order, Sop, Tag, User, db,
)
from seed.demo import DEMO_PASSWORD, DEMO_USERS, HISTORY, fans_total
from seed.synthetic import make_customers
from tests.conftest import login, make_employee


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def snapshot() -> dict:
    return {m.__name__: count(m) for m in (Department, Employee, User, Tag, Sop, Journey,
                                           Customer, CustomerTag, Order, AuditLog)}


@pytest.fixture
def seeded(app):
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    return result, time.monotonic() - started


def test_demo_twice_gives_the_same_counts(app, seeded):
    first, _ = seeded
    assert "sop-demo-pass" in first.output and "admin" in first.output
    before = snapshot()
    assert before["Department"] == 3 and before["Employee"] == 10 and before["User"] == 6
    assert before["Customer"] == 2000 + fans_total()  # + the replayed fans
    assert before["Order"] > 1000 and before["CustomerTag"] > 500
    assert set(db.session.scalars(select(Sop.key))) == {"sunscreen-revisit", "revisit",
                                                        "complaint"}
    assert list(db.session.scalars(select(Journey.key))) == ["dental"]

    # ops ended an SOP in the meantime: the re-run keeps that status (and does not fail)
    db.session.scalar(select(Sop).where(Sop.key == "complaint")).status = "ended"
    db.session.commit()
    second = app.test_cli_runner().invoke(args=["seed", "demo"])
    assert second.exit_code == 0, second.output
    db.session.expire_all()
    assert db.session.scalar(select(Sop.status).where(Sop.key == "complaint")) == "ended"
    after = snapshot()
    # Re-importing the configuration is audited row by row; everything else is unchanged.
    assert {k: v for k, v in after.items() if k != "AuditLog"} == \
           {k: v for k, v in before.items() if k != "AuditLog"}
    assert "inserted 0 customers" in second.output
    summaries = db.session.scalars(select(AuditLog).where(
        AuditLog.actor == "seed", AuditLog.object_type == "Customer",
        AuditLog.summary.like("demo seed:%"))).all()  # the bulk insert's one row
    assert len(summaries) == 1 and summaries[0].after["customers"] == 2000


def test_demo_runs_the_first_evaluation(seeded):
    """The demo is alive at once: SOPs running with customers, the journey synced."""
    from models import Enrollment, JourneyPlacement

    statuses = dict(db.session.execute(select(Sop.key, Sop.status)).all())
    assert statuses == {"sunscreen-revisit": "running", "revisit": "running",
                        "complaint": "running"}
    revisit = db.session.scalar(select(Sop).where(Sop.key == "revisit"))
    # entered when the SOP started; since then the dormancy rule has put some to sleep
    # and follow-ups have lost some
    paying = count(Customer, Customer.lifecycle_stage.in_(["付费", "忠实"]),
                   or_(Customer.churn_status.in_(("normal", "dormant")),
                       Customer.followup_outcome == "lost"))
    assert paying > 0 and count(Enrollment, Enrollment.sop_id == revisit.id,
                                Enrollment.flowed_from_id.is_(None)) == paying
    dental = db.session.scalar(select(Journey).where(Journey.key == "dental"))
    assert dental.sync_started_at is None and dental.synced_at is not None
    assert count(JourneyPlacement, JourneyPlacement.journey_id == dental.id) > 0


def test_demo_opens_on_weeks_of_history_with_work_in_the_inbox(seeded):
    """Replayed days: fans entered the sunscreen SOP, messages went out in batches and
    were confirmed, a few fans bought again and flowed on; some send tasks are still open."""
    from models import Delivery, Enrollment, SendBatch, Task

    sunscreen = db.session.scalar(select(Sop).where(Sop.key == "sunscreen-revisit"))
    assert count(Enrollment, Enrollment.sop_id == sunscreen.id) == fans_total()
    assert count(Enrollment, Enrollment.sop_id == sunscreen.id,
                 Enrollment.status == "ended_early") > 0
    assert count(Enrollment, Enrollment.flowed_from_id == sunscreen.id) > 0
    assert count(Delivery, Delivery.action == "message", Delivery.status == "sent") > 0
    assert count(SendBatch, SendBatch.status == "done") > 0
    assert count(Task, Task.kind == "send", Task.status == "open") > 0
    # fans who ordered within the window count as converted on the SOP's data page
    assert count(Enrollment, Enrollment.sop_id == sunscreen.id,
                 Enrollment.converted.is_(True)) > 0
    # the team's work falls in working hours (Shanghai), not at night
    zone = ZoneInfo("Asia/Shanghai")
    hours = {(due if due.tzinfo else due.replace(tzinfo=timezone.utc)).astimezone(zone).hour
             for due in db.session.scalars(select(Task.due_at).where(
                 Task.kind.in_(("send", "step", "reminder"))))}
    assert hours and hours <= set(range(9, 19)), sorted(hours)


def test_demo_customers_are_complete_and_recent(seeded):
    now = datetime.now(timezone.utc)
    assert count(Customer, Customer.owner_id.is_(None)) == 0
    oldest, newest = db.session.execute(
        select(func.min(Order.placed_at), func.max(Order.placed_at))).one()
    assert now - timedelta(days=90) - HISTORY <= oldest and newest <= now
    assert count(Customer, Customer.added_at < now - timedelta(days=90) - HISTORY) == 0
    before_added = db.session.scalar(select(func.count()).select_from(Order).join(Customer)
                                     .where(Order.placed_at < Customer.added_at))
    assert before_added == 0
    # owners spread over every employee; tiers follow the annual value thresholds
    assert db.session.scalar(select(func.count(func.distinct(Customer.owner_id)))) == 10
    for tier, low, high in (("high", 500_000, None), ("potential", 100_000, 500_000),
                            ("normal", 0, 100_000)):
        rows = select(func.count()).select_from(Customer).where(Customer.tier == tier)
        assert db.session.scalar(rows) > 0, tier
        assert db.session.scalar(rows.where(Customer.annual_value < low)) == 0
        if high is not None:
            assert db.session.scalar(rows.where(Customer.annual_value >= high)) == 0
    for column in (Customer.source, Customer.lifecycle_stage, Customer.churn_status,
                   Customer.review_status):
        assert len(set(db.session.scalars(select(column)))) >= 2, column
    assert set(db.session.scalars(select(Customer.source))) == {
        "线上广告", "行业展会", "渠道活码", "老客推荐", "官网"}


def test_demo_configuration_follows_the_manual(seeded):
    sop = db.session.scalar(select(Sop).where(Sop.key == "sunscreen-revisit"))
    assert sop.kind == "new_customer"
    assert sop.target == {"sources": ["渠道活码"], "tags_any": ["购买防晒正装"]}
    assert [s.day for s in sop.steps] == [5, 10, 15, 30, 40]
    titles = ["护肤说明", "做好防晒的重要性", "为什么要防晒", "防晒回购优惠", "防晒优惠券使用提醒"]
    assert all(s.text.startswith(t) for s, t in zip(sop.steps, titles))
    assert sop.early_end_when == {"tags_any": ["已复购"]}
    assert sop.early_end_add_tags == ["提前结束"]
    assert sop.early_end_flow_to.key == "revisit" and sop.early_end_flow_to.kind == "nurture"
    assert sop.normal_end_add_tags == ["SOP完成"]
    revisit = sop.early_end_flow_to
    assert [s.day for s in revisit.steps] == [15, 30]
    playbook = db.session.scalar(select(Sop).where(Sop.key == "complaint"))
    assert playbook.kind == "playbook" and playbook.trigger_event == "tag_added"
    assignees = {s.task_assignee for s in playbook.steps}
    assert {"owner", "role:service"} <= assignees
    assert all(s.action == "task" and s.task_deadline_hours for s in playbook.steps)
    journey = db.session.scalar(select(Journey).where(Journey.key == "dental"))
    assert journey.enabled
    extracted = next(st for st in journey.stages if st.key == "extracted")
    assert [(r.day, r.hour, r.text) for r in extracted.reminders] == [
        (1, 9, "拔牙后注意事项"), (7, 9, "请到店复查拆线")]
    assert extracted.rules[0].conditions[0].tags == ["拔牙"]


def test_every_demo_login_works_and_is_linked(app, seeded):
    assert {role for _, role, _ in DEMO_USERS} == {"admin", "ops", "manager", "sales",
                                                    "service", "finance"}
    for username, role, userid in DEMO_USERS:
        user = db.session.scalar(select(User).where(User.username == username))
        assert user.role == role
        assert (user.employee.userid if user.employee else None) == userid
        with app.app_context():  # a fresh `g`, so the previous login is not reused
            client = app.test_client()
            login(client, username, DEMO_PASSWORD)
            assert client.get("/admin/").status_code == 200, username
    manager = db.session.scalar(select(User).where(User.username == "manager")).employee
    assert manager.role == "manager" and manager.department.name == "华东销售"


def test_synthetic_customers_are_set_based_and_resumable():
    for i in range(3):
        make_employee(f"emp{i}")
    db.session.add(Tag(name="VIP"))
    db.session.commit()
    now = datetime.now(timezone.utc)
    assert make_customers(db.session, 1500, now=now, chunk=400, tags=["VIP"]) == 1500
    assert make_customers(db.session, 1500, now=now, chunk=400) == 0  # already there
    assert make_customers(db.session, 1800, now=now, chunk=400) == 300  # extends the set
    assert count(Customer, Customer.external_id.like("syn-%")) == 1800
    assert count(CustomerTag) == 1500
    assert db.session.scalar(select(func.count(func.distinct(Customer.owner_id)))) == 3
    oldest, newest = db.session.execute(
        select(func.min(Customer.added_at), func.max(Customer.added_at))).one()
    assert now - timedelta(days=90, seconds=1) <= oldest and newest <= now
    assert count(Customer, Customer.tier == "high", Customer.annual_value < 500_000) == 0
    with pytest.raises(ValueError, match="unknown tags"):
        make_customers(db.session, 1900, tags=["nope"])
    assert count(Customer) == 1800


def test_synthetic_needs_employees():
    with pytest.raises(ValueError, match="no active employees"):
        make_customers(db.session, 10)
    assert count(Customer) == 0
