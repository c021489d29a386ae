"""~2,000 realistic demo customers with tags and orders, written with bulk inserts.

Everything comes from one seeded `random.Random`, so two runs plan the same
customers (same external ids, owners, tags, orders); only the customers not yet
in the database are inserted, which makes the demo idempotent. Times are offsets
from `now`: customers were added, and ordered, within the last 90 days.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jobs.core.tiers import tier_for
from models import Customer, CustomerTag, Employee, Order, Settings, Tag, TagChange

CUSTOMER_COUNT = 2000
SEED = 20240628
WINDOW = timedelta(days=90)

SOURCES = {"线上广告": 25, "行业展会": 15, "渠道活码": 30, "老客推荐": 15, "官网": 15}
CITIES = {"华东销售": ("上海", "杭州", "南京", "苏州", "宁波"),
          "华南销售": ("广州", "深圳", "厦门", "佛山", "东莞")}
ALL_CITIES = tuple(c for cities in CITIES.values() for c in cities)
ROADS = ("人民路", "中山路", "解放路", "建设路", "南京路", "滨江大道", "科技园路", "学府路")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余杜叶程魏苏吕丁沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰飞鑫波宇浩凯晨欣怡佳琪雪梅婷晓燕子涵思远俊峰文博"
BRANDS = ("云启", "华信", "瑞丰", "博远", "恒泰", "嘉禾", "星辰", "明德", "启航", "汇智", "鼎盛", "安和")
INDUSTRIES = {"制造业": "制造", "零售": "商贸", "互联网": "科技", "医疗健康": "医疗", "教育": "教育",
              "金融": "投资"}
REJECT_REASONS = ("联系方式无效", "重复客户", "信息不完整，请补充行业与地址")
DENTAL_TAGS = {"拔牙": 40, "种牙": 20, "补牙": 25, "洗牙": 15}
OWNER_WEIGHT = {"sales": 6, "manager": 2, "service": 1, "ops": 1}


@dataclass
class PlannedCustomer:
    row: dict
    tags: list[tuple[str, datetime]]  # (tag name, when it was added)
    orders: list[dict]


def external_id(i: int) -> str:
    """WeCom-style external_userid (wm + 30 hex), stable per demo index."""
    return "wm" + hashlib.sha1(f"sop-demo-{i}".encode()).hexdigest()[:30]


def weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = max(0, int((end - start).total_seconds()))
    return start + timedelta(seconds=rng.randint(0, seconds))


class Planner:
    """Plans customer `i` from the shared random stream (call in order 0..N-1)."""

    def __init__(self, employees: list[Employee], settings: Settings, now: datetime):
        self.rng = random.Random(SEED)
        self.employees = employees
        self.owner_weights = [OWNER_WEIGHT.get(e.role, 1) for e in employees]
        self.settings = settings
        self.now = now

    def plan(self, i: int) -> PlannedCustomer:
        rng, now = self.rng, self.now
        owner = rng.choices(self.employees, weights=self.owner_weights)[0]
        city = rng.choice(CITIES.get(owner.department.name if owner.department else "",
                                     ALL_CITIES))
        enterprise = rng.random() < 0.35
        added = now - timedelta(seconds=rng.randint(600, int(WINDOW.total_seconds()) - 600))
        source = weighted(rng, SOURCES)
        name, industry, value = self._identity(city, enterprise)
        orders = self._orders(i, added, enterprise)
        if orders:
            stage = "忠实" if len(orders) >= 3 else "付费"
        else:
            stage = "潜在" if rng.random() < 0.6 else "新客户"
        churn = "lost" if rng.random() < 0.06 else "normal"
        review, reason = self._review(added)
        tier = tier_for(value, self.settings.tier_high_threshold,
                       self.settings.tier_potential_threshold)
        row = {
            "external_id": external_id(i), "name": name,
            "customer_type": "enterprise" if enterprise else "individual",
            "industry": industry,
            "phone": f"1{rng.choice((38, 39, 58, 86, 77))}{rng.randint(0, 10**8 - 1):08d}",
            "address": f"{city}市{rng.choice(ROADS)}{rng.randint(1, 999)}号",
            "source": source, "owner_id": owner.id, "added_at": added,
            "lifecycle_stage": stage, "churn_status": churn, "annual_value": value,
            "tier": tier, "review_status": review, "review_reason": reason,
            "last_interaction_at": between(rng, added, now),
            "last_purchase_at": orders[-1]["placed_at"] if orders else None,
            "created_at": added, "updated_at": now,
        }
        tags = [(tag, between(rng, added, now))
                for tag in self._tags(source, enterprise, len(orders), stage, tier)]
        return PlannedCustomer(row=row, tags=tags, orders=orders)

    def _identity(self, city: str, enterprise: bool) -> tuple[str, str | None, Decimal]:
        """Name, industry and annual value (companies buy far more than people)."""
        rng = self.rng
        if enterprise:
            industry = rng.choice(list(INDUSTRIES))
            name = f"{city}{rng.choice(BRANDS)}{INDUSTRIES[industry]}有限公司"
            bucket = rng.random()
            thousands = (rng.randint(500, 3000) if bucket < 0.12 else
                         rng.randint(100, 499) if bucket < 0.45 else rng.randint(5, 99))
            return name, industry, Decimal(thousands * 1000)
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        value = rng.randint(100, 300) * 1000 if rng.random() < 0.03 else rng.randint(0, 60) * 500
        return name, None, Decimal(value)

    def _orders(self, i: int, added: datetime, enterprise: bool) -> list[dict]:
        """0-5 orders between the add and now, oldest first."""
        rng = self.rng
        count = rng.choices((0, 1, 2, 3, 4, 5), weights=(40, 30, 15, 9, 4, 2))[0]
        times = sorted(between(rng, added, self.now) for _ in range(count))
        low, high = (5_000, 300_000) if enterprise else (99, 3_000)
        return [{"order_id": f"DEMO-{i:05d}-{k}", "placed_at": placed,
                 "amount": Decimal(rng.randint(low, high))} for k, placed in enumerate(times)]

    def _review(self, added: datetime) -> tuple[str, str | None]:
        roll = self.rng.random()
        if self.now - added < timedelta(days=3):  # managers review within a working day or so
            return ("pending", None) if roll < 0.7 else ("activated", None)
        if roll < 0.05:
            return "rejected", self.rng.choice(REJECT_REASONS)
        return ("pending", None) if roll < 0.08 else ("activated", None)

    def _tags(self, source, enterprise, n_orders, stage, tier) -> list[str]:
        rng, tags = self.rng, []
        if not enterprise and source == "渠道活码":
            roll = rng.random()
            if roll < 0.45:
                tags.append("购买防晒正装")
                if n_orders >= 2:
                    tags.append("已复购")
            elif roll < 0.6:
                tags.append("购买防晒小样")
        if not enterprise and rng.random() < 0.2:
            tags.append(weighted(rng, DENTAL_TAGS))
        if enterprise:
            if rng.random() < 0.3:
                tags.append("意向产品A")
            if tier == "high":
                tags.append("预算50万+")
            if stage in ("潜在", "新客户") and rng.random() < 0.25:
                tags.append("3个月内决策")
        if rng.random() < 0.03:
            tags.append("投诉")
        if tier == "high":
            tags.append("VIP")
        return tags


def insert_demo_customers(session: Session, now: datetime,
                          count: int = CUSTOMER_COUNT) -> dict[str, int]:
    """Insert the planned customers that are missing; returns what was inserted."""
    employees = list(session.scalars(select(Employee).order_by(Employee.userid)))
    if not employees:
        raise ValueError("the demo needs employees before customers")
    planner = Planner(employees, Settings.get(session), now)
    plans = [planner.plan(i) for i in range(count)]  # always all, to keep the stream stable
    wanted = [p.row["external_id"] for p in plans]
    existing = set(session.scalars(
        select(Customer.external_id).where(Customer.external_id.in_(wanted))))
    plans = [p for p in plans if p.row["external_id"] not in existing]
    if not plans:
        return {"customers": 0, "orders": 0, "tags": 0}

    session.execute(insert(Customer), [p.row for p in plans])
    ids = dict(session.execute(select(Customer.external_id, Customer.id).where(
        Customer.external_id.in_([p.row["external_id"] for p in plans]))).all())
    tag_ids = dict(session.execute(select(Tag.name, Tag.id)).all())
    links, history, orders = [], [], []
    for p in plans:
        cid = ids[p.row["external_id"]]
        for name, at in p.tags:
            links.append({"customer_id": cid, "tag_id": tag_ids[name], "added_at": at,
                          "source": "import"})
            history.append({"customer_id": cid, "tag_id": tag_ids[name], "action": "added",
                            "source": "import", "at": at})
        orders.extend({**o, "customer_id": cid} for o in p.orders)
    for model, rows in ((CustomerTag, links), (TagChange, history), (Order, orders)):
        if rows:
            session.execute(insert(model), rows)
    return {"customers": len(plans), "orders": len(orders), "tags": len(links)}
