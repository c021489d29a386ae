"""The benchmark's world: staff, tags, 20 SOPs and 3 journeys as one config-as-code
document, synthetic customers with realistic tag shares, and random customer events.

Everything is deterministic: tag shares come from a hash of the customer id, events
from a seeded `random.Random`, so two runs of the same size do the same work.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models import Tag
from seed.synthetic import SOURCES, make_customers

STAGES = ["潜在", "新客户", "付费", "忠实"]
DEPARTMENTS = {"华东销售": 12, "华南销售": 12, "华北销售": 10, "客服中心": 6}

# tag -> share of customers (per mille) who have it
TAG_SHARES = {
    "意向产品A": 250, "意向产品B": 150, "预算50万+": 100, "3个月内决策": 200, "VIP": 80,
    "活动报名": 300, "直播观看": 200, "试用中": 120, "已成交": 50, "投诉": 30,
    "拔牙": 100, "种牙": 60, "补牙": 80, "洗牙": 150,
}
AUTO_TAGS = ["提前结束", "SOP完成", "培育完成"]  # only the engine adds these
EARLY_END_TAGS = ["已成交", "投诉"]


def employees() -> list[dict]:
    rows = []
    for d, (department, count) in enumerate(DEPARTMENTS.items()):
        role = "service" if department == "客服中心" else "sales"
        rows += [{"userid": f"e{d}{i:02d}", "name": f"{department}{i:02d}",
                  "department": department, "role": role} for i in range(count)]
    return rows


EAST = [e["userid"] for e in employees() if e["department"] == "华东销售"]
SOUTH_TEAM = [e["userid"] for e in employees() if e["department"] == "华南销售"][:5]


def _steps(n: int, task: bool = False, tag: str | None = None) -> list[dict]:
    """Steps from day 1 on: the ticks measured here evaluate, they write no deliveries."""
    days = [1, 3, 7, 14, 30][:n]
    steps = [{"day": day, "at": "10:00", "action": "message", "text": f"第{day}天的推送"}
             for day in days]
    if task:
        steps.append({"day": 2, "at": "15:00", "action": "task", "title": "电话回访",
                      "assignee": "owner", "deadline_hours": 48})
    if tag:
        steps.append({"day": days[-1], "at": "20:00", "action": "tag", "add_tags": [tag]})
    return steps


def _nurture(key: str, target: dict, steps: list[dict], early: list[str] | None = None,
             **extra) -> dict:
    sop = {"key": key, "name": key, "kind": "nurture", "target": target, "steps": steps,
           "batch": {"size": 500, "interval_minutes": 10}, **extra}
    if early:
        sop["early_end"] = {"when": {"tags_any": early}, "add_tags": ["提前结束"]}
    return sop


def sops(holdout: int = 10) -> list[dict]:
    deal, complaint = ["已成交"], ["投诉"]
    nurture = [
        _nurture("intent-a", {"tags_any": ["意向产品A"]}, _steps(4, task=True), deal),
        _nurture("intent-b", {"tags_any": ["意向产品B"]}, _steps(3), deal),
        _nurture("budget-decision", {"tags_all": ["预算50万+", "3个月内决策"]},
                 _steps(3, task=True), deal, priority=20),
        _nurture("vip-care", {"tags_any": ["VIP"], "stages": ["付费", "忠实"]}, _steps(4),
                 complaint, priority=30),
        _nurture("event-followup", {"tags_any": ["活动报名", "直播观看"]}, _steps(3), deal,
                 holdout_percent=holdout),
        _nurture("trial", {"tags_any": ["试用中"], "tags_none": ["投诉"]}, _steps(4, task=True),
                 deal),
        _nurture("paid-onboarding", {"stages": ["付费"]}, _steps(5, tag="培育完成"), complaint),
        _nurture("loyal", {"stages": ["忠实"]}, _steps(3), complaint),
        _nurture("ad-prospects", {"stages": ["潜在"], "sources": ["线上广告", "官网"]},
                 _steps(3), deal),
        _nurture("expo", {"sources": ["行业展会"]}, _steps(2, task=True), deal),
        _nurture("referral", {"sources": ["老客推荐"], "tags_any": ["VIP", "意向产品A"]},
                 _steps(3), deal),
        _nurture("win-back", {"churn_status": ["lost"]}, _steps(2)),
        _nurture("implant", {"tags_any": ["拔牙"], "tags_none": ["种牙"]}, _steps(4), ["种牙"]),
        _nurture("cleaning", {"tags_any": ["洗牙"], "stages": ["付费", "忠实"]}, _steps(2)),
        _nurture("east-intent", {"departments": ["华东销售"], "tags_any": ["意向产品B", "试用中"]},
                 _steps(3), deal),
        _nurture("south-new", {"members": SOUTH_TEAM, "stages": ["新客户"]}, _steps(3), deal),
        _nurture("high-value", {"segment": "high-value"}, _steps(4, task=True), complaint,
                 priority=40),
    ]
    new_customer = [
        {"key": "welcome-ads", "name": "welcome-ads", "kind": "new_customer",
         "target": {"sources": ["线上广告"]}, "steps": _steps(3),
         "early_end": {"when": {"tags_any": deal}, "flow_to": "intent-a"}},
        {"key": "welcome-code", "name": "welcome-code", "kind": "new_customer",
         "target": {"sources": ["渠道活码"], "tags_any": ["活动报名"]}, "steps": _steps(3)},
        {"key": "welcome-east", "name": "welcome-east", "kind": "new_customer",
         "target": {"departments": ["华东销售"]}, "steps": _steps(2, task=True),
         "normal_end": {"add_tags": ["SOP完成"], "flow_to": "intent-b"}},
    ]
    return nurture + new_customer


def _reminders(*days: int) -> list[dict]:
    return [{"day": day, "hour": 9 + i, "text": f"阶段第{day}天提醒",
             "kind": "stage" if i % 2 == 0 else "followup"} for i, day in enumerate(days)]


def journeys() -> list[dict]:
    def stage(key, rules, *days):
        return {"key": key, "name": key, "rules": rules, "reminders": _reminders(*days)}

    return [
        {"key": "funnel", "name": "销售漏斗", "enabled": True, "stages": [
            stage("prospect", [{"stage": "潜在"}], 1, 3),
            stage("interested", [{"tags_any": ["意向产品A", "意向产品B"]}], 1, 7),
            stage("qualified", [{"all": [{"tags_any": ["预算50万+"]},
                                         {"tags_any": ["3个月内决策"]}]}], 1),
            stage("customer", [{"stage": "付费"}, {"tags_any": ["已成交"]}], 2, 14),
            stage("loyal", [{"stage": "忠实"}], 30),
        ]},
        {"key": "dental", "name": "口腔旅程", "enabled": True, "stages": [
            stage("cleaning", [{"tags_any": ["洗牙"]}], 180),
            stage("extracted", [{"tags_any": ["拔牙"]}], 1, 7),
            stage("filling", [{"tags_any": ["补牙"]}], 3),
            stage("implant", [{"tags_any": ["种牙"]}, {"all": [{"tags_any": ["拔牙"]},
                                                               {"stage": "付费"}]}], 1, 30),
        ]},
        {"key": "service", "name": "服务旅程", "enabled": True, "stages": [
            stage("engaged", [{"tags_any": ["活动报名", "直播观看"]}], 7),
            stage("dormant", [{"churn_status": "dormant"}], 1),
            stage("complaint", [{"tags_any": ["投诉"]}], 1, 2),
        ]},
    ]


def document(holdout: int = 10) -> dict:
    tags = [{"name": n, "group": "bench"} for n in [*TAG_SHARES, *AUTO_TAGS]]
    return {
        "settings": {"timezone": "Asia/Shanghai", "lifecycle_stages": STAGES},
        "employees": employees(),
        "tags": tags,
        "segments": [{"key": "high-value", "name": "高价值",
                      "filter": {"tiers": ["high", "potential"], "churn_status": ["normal"]}}],
        "sops": sops(holdout),
        "journeys": journeys(),
    }


def tag_share_sql(tag_id: int, per_mille: int, salt: int) -> tuple[str, dict]:
    """Give `per_mille`/1000 of the customers this tag, chosen by a multiplicative hash
    of the id; a different (odd) multiplier per tag keeps the tags near independent."""
    sql = ("INSERT INTO customer_tags (customer_id, tag_id, added_at, source) "
           "SELECT id, :tag, added_at, 'import' FROM customers "
           "WHERE (id * :multiplier) % 4294967296 / 4096 % 1000 < :share")
    return (sql, {"tag": tag_id, "multiplier": 2654435761 + 2 * 104729 * salt, "share": per_mille})


def make_world(session: Session, count: int, now: datetime) -> None:
    """`count` synthetic customers, then each bench tag on its share of them."""
    make_customers(session, count, now=now)
    steady_followups(session, now)
    ids = dict(session.execute(select(Tag.name, Tag.id)).all())
    for salt, (name, share) in enumerate(TAG_SHARES.items(), 1):
        sql, params = tag_share_sql(ids[name], share, salt)
        session.execute(text(sql), params)
        session.commit()


def steady_followups(session: Session, now: datetime) -> None:
    """The follow-up cadence as if it had been running: each customer's last follow-up
    one interval (their tier's) before a next one planned between tomorrow and that
    interval (about 50 a minute fall due at 1 M), none overdue, and a recount
    (jobs.followups.refresh, run on every changed customer) gives the same date.
    Without it every synthetic customer is an import with no plan: each tick would
    spend seconds catching up (backfill, open_due_tasks: 20,000 and 5,000 a tick),
    and each changed customer would open an overdue task, instead of the change."""
    from models import Settings

    settings = Settings.get(session)
    days = (f"CASE tier WHEN 'high' THEN {int(settings.followup_days_high)} "
            f"WHEN 'potential' THEN {int(settings.followup_days_potential)} "
            f"ELSE {int(settings.followup_days_normal)} END")
    ahead = f"((CAST(id AS BIGINT) * 7919) % (({days} - 1) * 86400))"  # seconds after tomorrow
    if session.get_bind().dialect.name == "sqlite":
        def at(seconds):
            return f"datetime(:base, ({seconds}) || ' seconds')"
    else:
        def at(seconds):
            return f"CAST(:base AS timestamp) + make_interval(secs => {seconds})"
    base = (now + timedelta(days=1)).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    session.execute(text(
        f"UPDATE customers SET next_followup_at = {at(ahead)}, "
        f"last_followup_at = {at(f'{ahead} - {days} * 86400')} "
        "WHERE churn_status <> 'lost'"), {"base": base})
    session.commit()


# --- events ------------------------------------------------------------------------
EVENT_MIX = [("tag_added", 30), ("tag_removed", 15), ("stage_changed", 20),
             ("customer_added", 20), ("order_placed", 15)]


def random_events(rng: random.Random, count: int, customers: int, batch: int,
                  new_owners: list[str]) -> list[dict]:
    """`count` events on random synthetic customers; new ones are owned by SOP members."""
    kinds = [k for k, weight in EVENT_MIX for _ in range(weight)]
    tags = list(TAG_SHARES)
    events = []
    for i in range(count):
        kind = rng.choice(kinds)
        external_id = f"syn-{rng.randrange(customers)}"
        if kind == "tag_added":
            events.append({"type": kind, "external_id": external_id,
                           "tags": rng.sample(tags, rng.choice((1, 1, 2)))})
        elif kind == "tag_removed":
            events.append({"type": kind, "external_id": external_id,
                           "tags": [rng.choice(tags)]})
        elif kind == "stage_changed":
            events.append({"type": kind, "external_id": external_id,
                           "stage": rng.choice(STAGES)})
        elif kind == "order_placed":
            events.append({"type": kind, "external_id": external_id,
                           "amount": rng.randrange(100, 50_000),
                           "order_id": f"bench-{batch}-{i}"})
        else:
            events.append({"type": kind, "external_id": f"new-{batch}-{i}",
                           "name": f"新客户{batch}-{i}", "owner": rng.choice(new_owners),
                           "source": rng.choice(SOURCES),
                           "tags": rng.sample(tags, rng.choice((0, 1, 2)))})
    return events
