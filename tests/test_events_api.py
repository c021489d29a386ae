"""POST /api/v1/events: validation, every event type's effect, journal rows, idempotency."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import (
    ApiToken, AuditLog, ChangeJournal, Customer, CustomerTag, Order, ProcessedEvent, Settings,
    Tag, TagChange, db,
)
from models.audit import acting_as
from tests.conftest import make_employee, make_user

T0 = "2025-03-01T10:00:00+08:00"
T1 = "2025-03-02T10:00:00+08:00"
T2 = "2025-03-03T10:00:00+08:00"


def token_for(username: str, role: str) -> str:
    user = make_user(username, role)
    with acting_as("test"):
        row, plain = ApiToken.issue(user)
        db.session.add(row)
        db.session.commit()
    return plain


@pytest.fixture
def post(client):
    headers = {"Authorization": f"Bearer {token_for('bot', 'ops')}"}

    def send(body):
        return client.post("/api/v1/events", json=body, headers=headers)
    return send


@pytest.fixture
def zhang():
    emp = make_employee("zhangsan")
    make_employee("lisi")
    db.session.commit()
    return emp


def added(external_id="wm1", **fields):
    return {"type": "customer_added", "external_id": external_id, "name": "王女士",
            "at": T0, **fields}


def customer(external_id="wm1") -> Customer:
    db.session.expire_all()
    return db.session.scalar(select(Customer).where(Customer.external_id == external_id))


def journal(external_id="wm1") -> list[tuple[str, dict]]:
    rows = db.session.execute(
        select(ChangeJournal.kind, ChangeJournal.detail, ChangeJournal.source)
        .join(Customer, Customer.id == ChangeJournal.customer_id)
        .where(Customer.external_id == external_id).order_by(ChangeJournal.id)).all()
    assert all(source == "event" for _, _, source in rows)
    return [(kind, detail) for kind, detail, _ in rows]


def counts() -> dict:
    models = (Customer, CustomerTag, Tag, TagChange, ChangeJournal, ProcessedEvent, Order,
              AuditLog)
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in models}


def test_customer_added_creates_the_customer_with_a_journal_row(post, zhang):
    resp = post(added(source="渠道活码", owner="zhangsan", tags=["VIP", "防晒"],
                      customer_type="enterprise", phone="138", industry="美妆",
                      annual_value=600000))
    assert resp.status_code == 200, resp.json
    assert resp.json == {"accepted": 1, "duplicates": 0}
    c = customer()
    assert (c.name, c.source, c.owner.userid, c.customer_type, c.phone, c.industry) == (
        "王女士", "渠道活码", "zhangsan", "enterprise", "138", "美妆")
    assert c.annual_value == Decimal("600000") and c.tier == "high"
    assert c.added_at == datetime(2025, 3, 1, 2, tzinfo=timezone.utc)
    assert c.last_interaction_at == c.added_at and c.churn_status == "normal"
    assert [t.name for t in c.tags] == ["VIP", "防晒"]
    assert {link.source for link in c.tag_links} == {"event"}
    [(kind, detail)] = journal()
    assert kind == "added"
    assert detail["name"] == {"from": None, "to": "王女士"}
    assert detail["owner"] == {"from": None, "to": "zhangsan"}
    assert detail["tier"] == {"from": None, "to": "high"}
    assert detail["tags"] == {"added": ["VIP", "防晒"]}
    row = db.session.scalar(select(ChangeJournal))
    assert row.at == c.added_at
    actors = set(db.session.scalars(select(AuditLog.actor).where(
        AuditLog.object_type == "Customer")))
    assert actors == {"api:bot"}


def test_customer_updated_changes_fields_and_tier_in_one_row(post, zhang):
    post(added(annual_value=50000))
    resp = post({"type": "customer_updated", "external_id": "wm1", "at": T1,
                 "annual_value": "150000", "phone": "139", "name": "王女士"})
    assert resp.json == {"accepted": 1, "duplicates": 0}
    c = customer()
    assert c.tier == "potential" and c.phone == "139"
    assert journal()[1] == ("updated", {
        "annual_value": {"from": "50000.00", "to": "150000.00"},
        "tier": {"from": "normal", "to": "potential"},
        "phone": {"from": None, "to": "139"}})


def test_tier_uses_the_configured_thresholds(post, zhang):
    settings = Settings.get(db.session)
    settings.tier_high_threshold, settings.tier_potential_threshold = 1000, 100
    db.session.commit()
    post(added(annual_value=1000))
    assert customer().tier == "high"


def test_owner_lost_stage_and_order_events(post, zhang):
    post(added(owner="zhangsan"))
    resp = post([
        {"type": "owner_changed", "external_id": "wm1", "owner": "lisi", "at": T1},
        {"type": "stage_changed", "external_id": "wm1", "stage": "付费", "at": T1},
        {"type": "order_placed", "external_id": "wm1", "order_id": "o-1", "amount": 99.5,
         "at": T1},
        {"type": "customer_lost", "external_id": "wm1", "at": T2},
    ])
    assert resp.json == {"accepted": 4, "duplicates": 0}
    c = customer()
    assert c.owner.userid == "lisi" and c.lifecycle_stage == "付费"
    assert c.churn_status == "lost"
    assert c.last_purchase_at == datetime(2025, 3, 2, 2, tzinfo=timezone.utc)
    assert c.last_interaction_at == c.last_purchase_at
    [order] = c.orders
    assert (order.order_id, order.amount, order.placed_at) == ("o-1", Decimal("99.50"),
                                                               c.last_purchase_at)
    assert journal()[1:] == [
        ("owner", {"from": "zhangsan", "to": "lisi"}),
        ("stage", {"from": None, "to": "付费"}),
        ("order", {"order_id": "o-1", "amount": "99.50"}),
        ("lost", {"from": "normal", "to": "lost"}),
    ]


def test_re_add_updates_and_restores_a_lost_customer(post, zhang):
    post([added(), {"type": "customer_lost", "external_id": "wm1", "at": T1}])
    resp = post(added(at=T2, source="行业展会"))
    assert resp.json == {"accepted": 1, "duplicates": 0}
    c = customer()
    assert c.churn_status == "normal" and c.source == "行业展会"
    assert c.added_at == datetime(2025, 3, 1, 2, tzinfo=timezone.utc)  # unchanged
    assert journal()[-1] == ("added", {"source": {"from": None, "to": "行业展会"},
                                       "churn_status": {"from": "lost", "to": "normal"}})
    post(added(at=T2, source="行业展会"))  # nothing new: no journal row
    assert len(journal()) == 3


def test_tag_events_create_unknown_tags_and_record_changes(post, zhang):
    post(added(tags=["老客"]))
    resp = post({"type": "tag_added", "external_id": "wm1", "tags": ["新标签", "老客"],
                 "at": T1})
    assert resp.json == {"accepted": 1, "duplicates": 0}
    assert db.session.scalar(select(Tag).where(Tag.name == "新标签")) is not None
    assert [t.name for t in customer().tags] == ["新标签", "老客"]
    assert journal()[1] == ("tags", {"added": ["新标签"], "removed": []})
    post({"type": "tag_removed", "external_id": "wm1", "tags": ["老客", "没有的"], "at": T2})
    assert [t.name for t in customer().tags] == ["新标签"]
    assert journal()[2] == ("tags", {"added": [], "removed": ["老客"]})
    assert db.session.scalar(select(Tag).where(Tag.name == "没有的")) is None
    actions = db.session.execute(select(TagChange.action, TagChange.source)
                                 .order_by(TagChange.id)).all()
    assert actions == [("added", "event")] * 2 + [("removed", "event")]


def test_removing_a_tag_the_customer_lacks_writes_no_journal_row(post, zhang):
    post(added())
    before = counts()
    resp = post({"type": "tag_removed", "external_id": "wm1", "tags": ["无此标签"]})
    assert resp.json == {"accepted": 1, "duplicates": 0}
    after = counts()
    assert after["ChangeJournal"] == before["ChangeJournal"]
    assert after["TagChange"] == before["TagChange"]


def test_same_batch_posted_twice_is_all_duplicates(post, zhang):
    batch = [dict(added(), id="e1"),
             {"type": "tag_added", "external_id": "wm1", "tags": ["A"], "id": "e2"},
             {"type": "order_placed", "external_id": "wm1", "order_id": "o-9", "amount": 5,
              "id": "e3"}]
    assert post(batch).json == {"accepted": 3, "duplicates": 0}
    before = counts()
    assert post(batch).json == {"accepted": 0, "duplicates": 3}
    assert counts() == before


def test_repeated_id_and_order_within_one_batch(post, zhang):
    order = {"type": "order_placed", "external_id": "wm1", "order_id": "o-1", "amount": 1}
    resp = post([dict(added(), id="x"), dict(added(), id="x"), order, order])
    assert resp.json == {"accepted": 2, "duplicates": 2}
    assert len(journal()) == 2


def test_older_event_does_not_undo_a_newer_change(post, zhang):
    post([added(), {"type": "stage_changed", "external_id": "wm1", "stage": "付费",
                    "at": T2}])
    resp = post({"type": "stage_changed", "external_id": "wm1", "stage": "潜在", "at": T1})
    assert resp.json == {"accepted": 1, "duplicates": 0}
    assert customer().lifecycle_stage == "付费"
    assert len(journal()) == 2
    post({"type": "tag_added", "external_id": "wm1", "tags": ["A"], "at": T0})
    post({"type": "tag_removed", "external_id": "wm1", "tags": ["A"], "at": T2})
    resp = post({"type": "tag_added", "external_id": "wm1", "tags": ["A"], "at": T1})
    assert resp.json == {"accepted": 1, "duplicates": 0}
    assert customer().tags == []
    assert [kind for kind, _ in journal()] == ["added", "stage", "tags", "tags"]


def test_one_bad_event_rejects_the_whole_list_and_writes_nothing(post, zhang):
    post(added())
    before = counts()
    resp = post([
        {"type": "tag_added", "external_id": "wm1", "tags": ["X"], "id": "ok-1"},
        {"type": "order_placed", "external_id": "wm1", "order_id": "o-1", "amount": -3},
        added("wm2"),
    ])
    assert resp.status_code == 422
    assert resp.json["error"] == "invalid_event"
    assert resp.json["detail"] == [{"index": 1, "field": "amount",
                                    "message": "must be a number ≥ 0"}]
    assert counts() == before


@pytest.mark.parametrize("event, field, message", [
    ({"type": "tag_added", "external_id": "nobody", "tags": ["X"]}, "external_id",
     "unknown customer 'nobody'"),
    ({"type": "customer_lost", "external_id": "wm1", "at": "2025-03-01T10:00:00"}, "at",
     "needs a UTC offset"),
    ({"type": "stage_changed", "external_id": "wm1", "stage": "火星"}, "stage",
     "unknown stage '火星'"),
    ({"type": "owner_changed", "external_id": "wm1", "owner": "ghost"}, "owner",
     "unknown employee 'ghost'"),
    ({"type": "customer_lost", "external_id": "wm1", "colour": "red"}, "colour",
     "unknown field"),
    ({"type": "customer_added", "external_id": "wm3"}, "name", "is required"),
    ({"type": "customer_added", "external_id": "wm3", "name": "x",
      "customer_type": "robot"}, "customer_type", "must be one of"),
    ({"type": "tag_added", "external_id": "wm1", "tags": []}, "tags", "non-empty list"),
    ({"type": "customer_updated", "external_id": "wm1"}, None, "at least one of"),
    ({"type": "teleported", "external_id": "wm1"}, "type", "must be one of"),
    ({"type": "customer_lost", "external_id": "x" * 65}, "external_id", "at most 64"),
])
def test_invalid_events_name_index_field_and_reason(post, zhang, event, field, message):
    post(added())
    before = counts()
    resp = post([{"type": "customer_lost", "external_id": "wm1"}, event])
    assert resp.status_code == 422, resp.json
    [problem] = resp.json["detail"]
    assert (problem["index"], problem["field"]) == (1, field)
    assert message in problem["message"]
    assert counts() == before


def test_order_id_of_another_customer_is_refused(post, zhang):
    post([added("wm1"), added("wm2"),
          {"type": "order_placed", "external_id": "wm1", "order_id": "o-1", "amount": 1}])
    resp = post({"type": "order_placed", "external_id": "wm2", "order_id": "o-1",
                 "amount": 1})
    assert resp.status_code == 422
    assert resp.json["detail"][0]["field"] == "order_id"


def test_events_for_a_customer_added_earlier_in_the_same_list(post, zhang):
    resp = post([added("new"), {"type": "tag_added", "external_id": "new", "tags": ["A"]}])
    assert resp.json == {"accepted": 2, "duplicates": 0}
    assert [kind for kind, _ in journal("new")] == ["added", "tags"]


def test_body_must_be_json(client, post):
    headers = {"Authorization": f"Bearer {token_for('bot2', 'admin')}"}
    resp = client.post("/api/v1/events", data="nope", headers=headers)
    assert resp.status_code == 400 and resp.json["error"] == "invalid_json"


def test_sales_token_is_forbidden_and_no_token_is_unauthorized(client, zhang):
    headers = {"Authorization": f"Bearer {token_for('seller', 'sales')}"}
    resp = client.post("/api/v1/events", json=added(), headers=headers)
    assert resp.status_code == 403 and resp.json["error"] == "forbidden"
    assert client.post("/api/v1/events", json=added()).status_code == 401
    assert customer() is None


def test_an_id_committed_by_a_concurrent_request_counts_as_duplicate(post, zhang, monkeypatch):
    """The primary key decides: losing the race rolls back and retries as a duplicate."""
    import jobs.events

    Settings.get(db.session)
    db.session.commit()
    real_check = jobs.events.EventApplier.check
    raced = []

    def check_then_lose_the_race(self):
        if not raced:  # another request commits the same id after our look-up
            raced.append(True)
            with db.engine.begin() as other:
                other.execute(ProcessedEvent.__table__.insert(),
                              {"event_id": "e1", "received_at": datetime.now(timezone.utc)})
        return real_check(self)

    monkeypatch.setattr(jobs.events.EventApplier, "check", check_then_lose_the_race)
    resp = post([dict(added(), id="e1"), added("wm2")])
    assert resp.json == {"accepted": 1, "duplicates": 1}
    assert customer() is None and customer("wm2") is not None
    assert len(journal("wm2")) == 1
