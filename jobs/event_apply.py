"""Checks events against the database and applies them to customers (used by jobs.events).

One ChangeJournal row per event that changed something; tags go through
CustomerTag (source 'event') and TagChange. Shapes of `detail`: models/journal.py.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from jobs.core.tiers import tier_for
from jobs.followups import record_followup
from models import (
    ChangeJournal, Customer, CustomerTag, Department, Employee, Order, Settings, Tag, TagChange,
)

SOURCE = "event"
INTERACTIONS = ("customer_added", "order_placed", "followup_logged")
SCALARS = ("name", "source", "customer_type", "phone", "industry", "annual_value")
KIND = {"customer_added": "added", "customer_updated": "updated", "owner_changed": "owner",
        "customer_lost": "lost", "tag_added": "tags", "tag_removed": "tags",
        "stage_changed": "stage", "order_placed": "order", "followup_logged": "followup"}


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


def _later(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at > current else current


def _fields_of(kind: str, detail: dict) -> set[str]:
    """The customer fields a journal row says were set."""
    if kind in ("added", "updated"):
        return set(detail) - {"tags"}
    return {"owner": {"owner"}, "stage": {"stage"}, "lost": {"churn_status"}}.get(kind, set())


class EventApplier:
    """Holds the rows a batch of events touches, loaded with one query per table."""

    def __init__(self, session, events):
        self.session = session
        self.settings = Settings.get(session)
        self.customers = {c.external_id: c for c in session.scalars(
            select(Customer).where(Customer.external_id.in_({e.external_id for e in events})))}
        self.employees = {e.userid: e for e in session.scalars(
            select(Employee).where(Employee.userid.in_(
                {e.fields[k] for e in events for k in ("owner", "employee") if k in e.fields})))}
        self.departments = {d.name: d for d in session.scalars(
            select(Department).where(Department.name.in_(
                {e.fields["collab_department"] for e in events
                 if e.fields.get("collab_department")})))}
        self.tags = {t.name: t for t in session.scalars(
            select(Tag).where(Tag.name.in_(
                {n for e in events for n in e.fields.get("tags", ())})))}
        order_ids = {e.fields["order_id"] for e in events if "order_id" in e.fields}
        self.orders = dict(session.execute(
            select(Order.order_id, Customer.external_id).join(Order.customer)
            .where(Order.order_id.in_(order_ids))).all())
        self.events = events

    # --- checks that need the database (nothing is written) ------------------------
    def check(self) -> Iterator[tuple]:
        known = set(self.customers)
        orders = dict(self.orders)
        stages = list(self.settings.lifecycle_stages or [])
        for event in self.events:
            fields = event.fields
            if event.type == "customer_added":
                known.add(event.external_id)
            elif event.external_id not in known:
                yield event, "external_id", f"unknown customer '{event.external_id}'"
            for name in ("owner", "employee"):
                if name in fields and fields[name] not in self.employees:
                    yield event, name, f"unknown employee '{fields[name]}'"
            department = fields.get("collab_department")
            if department and department not in self.departments:
                yield event, "collab_department", f"unknown department '{department}'"
            if "stage" in fields and fields["stage"] not in stages:
                yield event, "stage", (f"unknown stage '{fields['stage']}'; "
                                       f"one of {', '.join(stages)}")
            if "order_id" in fields:
                owner = orders.setdefault(fields["order_id"], event.external_id)
                if owner != event.external_id:
                    yield event, "order_id", (f"order '{fields['order_id']}' belongs to "
                                              "another customer")

    # --- applying ------------------------------------------------------------------
    def apply(self, event) -> bool:
        """Apply one checked event; False when it is a duplicate (a known order_id)."""
        customer = self.customers.get(event.external_id)
        if event.type == "order_placed" and event.fields["order_id"] in self.orders:
            return False
        if customer is None:  # customer_added for a new customer (checked before)
            detail = self._profile(self._new_customer(event), event, readd=False, fresh=True)
            customer = self.customers[event.external_id]
        else:
            detail = getattr(self, "_" + event.type)(customer, event)
        if event.type in INTERACTIONS:
            customer.last_interaction_at = _later(customer.last_interaction_at, event.at)
            self._wake_dormant(customer, event)
        if detail:
            self.session.add(ChangeJournal(customer_id=customer.id, kind=KIND[event.type],
                                           detail=detail, at=event.at, source=SOURCE))
        return True

    def _new_customer(self, event) -> Customer:
        customer = Customer(external_id=event.external_id, name=event.fields["name"],
                            added_at=event.at, annual_value=Decimal(0),
                            customer_type="individual", churn_status="normal",
                            tier=self._tier(Decimal(0)))
        self.session.add(customer)
        self.session.flush()  # its id goes on the journal and tag rows
        self.customers[event.external_id] = customer
        return customer

    def _tier(self, value: Decimal) -> str:
        return tier_for(value, self.settings.tier_high_threshold,
                        self.settings.tier_potential_threshold)

    def _newer_fields(self, customer: Customer, at: datetime) -> set[str]:
        rows = self.session.execute(
            select(ChangeJournal.kind, ChangeJournal.detail)
            .where(ChangeJournal.customer_id == customer.id, ChangeJournal.at > at))
        return {name for kind, detail in rows for name in _fields_of(kind, detail or {})}

    def _newer_tags(self, customer: Customer, at: datetime) -> set[str]:
        return set(self.session.scalars(
            select(Tag.name).join(TagChange, TagChange.tag_id == Tag.id)
            .where(TagChange.customer_id == customer.id, TagChange.at > at)))

    def _customer_added(self, customer: Customer, event) -> dict:
        return self._profile(customer, event, readd=True)

    def _customer_updated(self, customer: Customer, event) -> dict:
        return self._profile(customer, event, readd=False)

    def _profile(self, customer: Customer, event, readd: bool, fresh: bool = False) -> dict:
        """Set the given fields; `fresh` records every given field as new (from null)."""
        changes = {}
        change = self._recorder(customer, event, changes)

        def before(name):
            return None if fresh else getattr(customer, name)

        for name in SCALARS:
            if name in event.fields and change(name, before(name), event.fields[name]):
                setattr(customer, name, event.fields[name])
        value = event.fields.get("annual_value")
        if "annual_value" in changes and change("tier", before("tier"), self._tier(value)):
            customer.tier = self._tier(value)
        if "owner" in event.fields:
            self._set_owner(customer, event.fields["owner"], change)
        if readd and change("churn_status", customer.churn_status, "normal"):
            customer.churn_status = "normal"
        added = self._add_tags(customer, event.fields.get("tags", ()), event.at)
        if added:
            changes["tags"] = {"added": added}
        return changes

    def _set_owner(self, customer: Customer, userid: str, change) -> None:
        old = customer.owner.userid if customer.owner else None
        if change("owner", old, userid):
            customer.owner = self.employees[userid]

    def _owner_changed(self, customer: Customer, event) -> dict:
        changes = {}
        self._set_owner(customer, event.fields["owner"], self._recorder(
            customer, event, changes))
        return changes.get("owner", {})

    def _customer_lost(self, customer: Customer, event) -> dict:
        changes = {}
        if self._recorder(customer, event, changes)("churn_status",
                                                    customer.churn_status, "lost"):
            customer.churn_status = "lost"
        return changes.get("churn_status", {})

    def _stage_changed(self, customer: Customer, event) -> dict:
        changes = {}
        if self._recorder(customer, event, changes)("stage", customer.lifecycle_stage,
                                                    event.fields["stage"]):
            customer.lifecycle_stage = event.fields["stage"]
        return changes.get("stage", {})

    def _recorder(self, customer: Customer, event, changes: dict):
        """A change() for single-field events: skips a field a newer change has set."""
        newer = self._newer_fields(customer, event.at)

        def change(name, old, new):
            if name not in newer and old != new:
                changes[name] = {"from": _plain(old), "to": _plain(new)}
                return True
            return False
        return change

    def _tag_added(self, customer: Customer, event) -> dict:
        added = self._add_tags(customer, event.fields["tags"], event.at)
        return {"added": added, "removed": []} if added else {}

    def _tag_removed(self, customer: Customer, event) -> dict:
        newer = self._newer_tags(customer, event.at)
        links = {link.tag.name: link for link in customer.tag_links}
        removed = [n for n in event.fields["tags"] if n in links and n not in newer]
        for name in removed:
            customer.tag_links.remove(links[name])
            self._tag_change(customer, links[name].tag, "removed", event.at)
        return {"added": [], "removed": removed} if removed else {}

    def _add_tags(self, customer: Customer, names, at: datetime) -> list[str]:
        if not names:
            return []
        newer = self._newer_tags(customer, at)
        have = {link.tag.name for link in customer.tag_links}
        added = [n for n in names if n not in have and n not in newer]
        for name in added:
            tag = self.tags.get(name)
            if tag is None:  # unknown tags are created (SPEC §8)
                tag = self.tags[name] = Tag(name=name)
                self.session.add(tag)
                # Flushed alone, before any customer row: the audit listener loads
                # customer.tags during a flush and must not meet a half-flushed tag.
                self.session.flush()
            customer.tag_links.append(CustomerTag(tag=tag, added_at=at, source=SOURCE))
            self._tag_change(customer, tag, "added", at)
        return added

    def _tag_change(self, customer: Customer, tag: Tag, action: str, at: datetime) -> None:
        self.session.add(TagChange(customer_id=customer.id, tag=tag, action=action,
                                   source=SOURCE, at=at))

    def _wake_dormant(self, customer: Customer, event) -> None:
        """An interaction brings a dormant customer back (SPEC §6: dormant = no interaction)."""
        if customer.churn_status == "dormant" and event.type != "customer_added":
            customer.churn_status, customer.dormant_since = "normal", None
            self.session.add(ChangeJournal(
                customer_id=customer.id, kind="updated", at=event.at, source=SOURCE,
                detail={"churn_status": {"from": "dormant", "to": "normal"}}))

    def _followup_logged(self, customer: Customer, event) -> dict:
        fields = event.fields
        employee = self.employees.get(fields.get("employee")) or customer.owner
        department = self.departments.get(fields.get("collab_department"))
        followup = record_followup(self.session, self.settings, customer, employee, event.at,
                                   fields, department)
        if fields.get("outcome") == "lost" and customer.churn_status != "lost":
            self.session.add(ChangeJournal(
                customer_id=customer.id, kind="lost", at=event.at, source=SOURCE,
                detail={"from": customer.churn_status, "to": "lost"}))
            customer.churn_status = "lost"
        return {"followup_id": followup.id, "outcome": followup.outcome}

    def _order_placed(self, customer: Customer, event) -> dict:
        order_id, amount = event.fields["order_id"], event.fields["amount"]
        # Through the (loaded) collection, so the audit listener need not load it mid-flush.
        customer.orders.append(Order(order_id=order_id, amount=amount, placed_at=event.at))
        self.orders[order_id] = customer.external_id
        customer.last_purchase_at = _later(customer.last_purchase_at, event.at)
        return {"order_id": order_id, "amount": _plain(amount)}
