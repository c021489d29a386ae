"""Customers and orders: big lists, rows filtered by role, bulk tagging.

Sales see their own customers, managers their department's, service everyone's
but no money; finance sees orders only.
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import (
    BaseSQLAFilter, DateBetweenFilter, FilterEqual, FilterLike, IntEqualFilter,
)
from flask_babel import lazy_gettext as _l, ngettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import delete, false, insert, select
from sqlalchemy.orm import joinedload, selectinload
from wtforms import HiddenField

from admin_views.base import SecuredModelView
from admin_views.choices import (
    CHURN_LABELS, CUSTOMER_ROLES, MONEY_ROLES, TAG_ROLES, TIER_LABELS, labelled, lifecycle_stages,
    local_zone, tag_names,
)
from admin_views.forms import CsrfForm, LazyOptions, NameChoiceField
from jobs.core.tiers import tier_for
from jobs.customer_writes import journal
from models import AuditLog, Customer, CustomerTag, Employee, Order, Settings, Tag, TagChange, db
from models.audit import current_actor
from models.base import utcnow

REVIEW_LABELS = {"pending": _l("Pending review"), "activated": _l("Activated"),
                 "rejected": _l("Rejected")}
SHORT_ID = 14  # longer external ids are shortened on the list
TYPE_LABELS = {"enterprise": _l("Enterprise"), "individual": _l("Individual")}


# --- rows the current user may see ------------------------------------------------
def own_employee_id() -> int | None:
    return current_user.employee_id


def own_department_id() -> int | None:
    employee = current_user.employee
    return employee.department_id if employee is not None else None


def customers_in_scope(query):
    """Sales: own customers; manager: customers owned in their department; others: all."""
    role = current_user.role
    if role == "sales":
        mine = own_employee_id()
        return query.filter(Customer.owner_id == mine if mine else false())
    if role == "manager":
        department = own_department_id()
        if department is None:
            return query.filter(false())
        staff = select(Employee.id).where(Employee.department_id == department)
        return query.filter(Customer.owner_id.in_(staff))
    return query


# --- filters ------------------------------------------------------------------------
class LocalDaysFilter(DateBetweenFilter):
    """Between two local dates, both included (the column holds aware UTC times)."""

    def apply(self, query, value, alias=None):
        start, end = value
        zone = local_zone()
        since = datetime.combine(start, time(), zone)
        until = datetime.combine(end + timedelta(days=1), time(), zone)
        column = self.get_column(alias)
        return query.filter(column >= since, column < until)


class HasTagFilter(BaseSQLAFilter):
    """Customers carrying the tag (EXISTS on customer_tags: no duplicate rows, and the
    newest-first page stops after 20 hits instead of sorting every tagged customer)."""

    def apply(self, query, value, alias=None):
        tagged = select(CustomerTag.customer_id).join(Tag).where(
            CustomerTag.customer_id == Customer.id, Tag.name == value)
        return query.filter(tagged.exists())

    def operation(self):
        return _l("has")


def employee_options():
    """Owners to filter by: only those whose customers the user may see."""
    query = select(Employee).order_by(Employee.name)
    if current_user.role == "manager":
        query = query.where(Employee.department_id == own_department_id())
    elif current_user.role == "sales":
        query = query.where(Employee.id == own_employee_id())
    return [(str(e.id), str(e)) for e in db.session.scalars(query)]


def source_options():
    return [(s, s) for s in db.session.scalars(
        select(Customer.source).where(Customer.source.is_not(None)).distinct()
        .order_by(Customer.source).limit(200))]


def one_line(view, context, model, name):
    """Text kept on one line in the list (cut with … by the CSS, whole on hover)."""
    value = getattr(model, name)
    if value is None:
        return ""
    return Markup('<span class="one-line" title="{0}">{0}</span>').format(str(value))


def short_id(view, context, model, name):
    """WeCom external ids are ~32 characters: the list shows their ends, hover shows all."""
    value = getattr(model, name) or ""
    if len(value) <= SHORT_ID:
        return value
    return Markup('<span title="{}">{}…{}</span>').format(value, value[:6], value[-4:])


def tag_names_of(view, context, model, name) -> str:
    return ", ".join(tag.name for tag in model.tags)  # a plain str: the template escapes it


# --- bulk tagging ------------------------------------------------------------------
def tag_customers(session, customer_ids: list[int], tag: Tag, adding: bool) -> int:
    """Add (or remove) `tag` for these customers by hand; returns how many changed.

    Writes the customer tag rows, one TagChange each (source 'manual') and one
    audit row per customer with its tags before and after.
    """
    current: dict[int, list[str]] = defaultdict(list)
    for customer_id, name in session.execute(
            select(CustomerTag.customer_id, Tag.name).join(Tag)
            .where(CustomerTag.customer_id.in_(customer_ids)).order_by(Tag.name)):
        current[customer_id].append(name)
    changing = [cid for cid in customer_ids if (tag.name in current[cid]) != adding]
    if not changing:
        return 0
    now, verb = utcnow(), ("added" if adding else "removed")
    if adding:
        session.execute(insert(CustomerTag), [
            {"customer_id": cid, "tag_id": tag.id, "added_at": now, "source": "manual"}
            for cid in changing])
    else:
        session.execute(delete(CustomerTag).where(CustomerTag.tag_id == tag.id,
                                                  CustomerTag.customer_id.in_(changing)))
    session.execute(insert(TagChange), [
        {"customer_id": cid, "tag_id": tag.id, "action": verb, "source": "manual", "at": now}
        for cid in changing])
    after = {cid: sorted(set(current[cid]) | {tag.name}) if adding
             else [n for n in current[cid] if n != tag.name] for cid in changing}
    session.execute(insert(AuditLog), [
        {"at": now, "actor": current_actor(), "action": "update", "object_type": "Customer",
         "object_id": cid, "summary": f"tag {tag.name} {verb} by hand",
         "before": {"tags": current[cid]}, "after": {"tags": after[cid]}}
        for cid in changing])
    # the tick sees hand-made tags like any other change (early ends, journey stages)
    journal(session, [(cid, "tags", {"added": [tag.name] if adding else [],
                                     "removed": [] if adding else [tag.name]})
                      for cid in changing], now, source="admin")
    return len(changing)


JOURNALED_FIELDS = ("name", "source", "customer_type", "phone", "industry", "annual_value",
                    "tier", "churn_status")


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


def journal_snapshot(customer: Customer) -> dict:
    """The values the journal compares, read before a form changes them."""
    values = {name: _plain(getattr(customer, name)) for name in JOURNALED_FIELDS}
    values["stage"] = customer.lifecycle_stage
    values["owner"] = customer.owner.userid if customer.owner else None
    return values


def journal_edit(session, customer: Customer, before: dict | None) -> None:
    """The change-journal rows an admin form's save makes, shaped as events make them.

    `before` is `journal_snapshot` from before the form; None for a new customer.
    """
    after = journal_snapshot(customer)
    old = before or {}
    fields = {name: {"from": old.get(name), "to": after[name]} for name in JOURNALED_FIELDS
              if old.get(name) != after[name]}
    rows = []
    if before is None or fields:
        rows.append((customer.id, "added" if before is None else "updated", fields))
    for kind in ("stage", "owner"):
        if old.get(kind) != after[kind]:
            rows.append((customer.id, kind, {"from": old.get(kind), "to": after[kind]}))
    journal(session, rows, utcnow(), source="admin")


class MoneyHidden:
    """A list Flask-Admin builds once at start-up (columns, filters), read on each
    request without its money items when the user's role may not see money."""

    def __init__(self, strip):
        self.strip = strip

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, view, owner=None):
        if view is None:
            return self
        value = view.__dict__.get(self.name)
        return value if value is None or view._may(view.money_roles) else \
            self.strip(view, value)

    def __set__(self, view, value):
        view.__dict__[self.name] = value


class TagActionForm(CsrfForm):
    """Second step of the bulk tag actions: which tag, for the rows picked on the list."""

    tag = NameChoiceField(_l("Tag"), choices=tag_names, blank=False)
    ids = HiddenField()
    mode = HiddenField()


# --- screens ---------------------------------------------------------------------------
class CustomerView(SecuredModelView):
    roles = CUSTOMER_ROLES
    write_roles = ("admin",)
    tag_roles = TAG_ROLES  # bulk tag actions
    money_columns = ("annual_value", "tier")  # the tier is derived from the annual value
    money_roles = MONEY_ROLES  # service sees no money

    simple_list_pager = True  # no COUNT(*) over a big table
    column_auto_select_related = False  # get_query loads owners and tags itself
    column_list = ("name", "external_id", "source", "owner", "lifecycle_stage", "churn_status",
                   "tier", "annual_value", "review_status", "added_at", "tags")
    column_details_list = ("name", "external_id", "customer_type", "industry", "phone",
                           "address", "source", "owner", "added_at", "lifecycle_stage",
                           "churn_status", "annual_value", "tier", "review_status",
                           "review_reason", "last_interaction_at", "last_purchase_at", "tags")
    column_labels = {
        "name": _l("Name"), "external_id": _l("External ID"), "source": _l("Source"),
        "owner": _l("Owner"), "lifecycle_stage": _l("Lifecycle stage"),
        "churn_status": _l("Churn status"), "tier": _l("Tier"),
        "annual_value": _l("Annual value"), "review_status": _l("Review"),
        "added_at": _l("Added"), "tags": _l("Tags"), "customer_type": _l("Type"),
        "industry": _l("Industry"), "phone": _l("Phone"), "address": _l("Address"),
        "review_reason": _l("Review note"), "last_interaction_at": _l("Last interaction"),
        "last_purchase_at": _l("Last purchase"),
    }
    column_sortable_list = ("name", "added_at", "lifecycle_stage", "tier")
    column_default_sort = ("added_at", True)
    column_searchable_list = ("name", "external_id", "phone")
    column_filters = (
        FilterEqual(Customer.source, _l("Source"), options=LazyOptions(source_options)),
        HasTagFilter(Customer.id, _l("Tag"), options=LazyOptions(
            lambda: [(n, n) for n in tag_names()])),
        FilterEqual(Customer.lifecycle_stage, _l("Lifecycle stage"),
                    options=LazyOptions(lambda: [(s, s) for s in lifecycle_stages()])),
        IntEqualFilter(Customer.owner_id, _l("Owner"), options=LazyOptions(employee_options)),
        FilterEqual(Customer.tier, _l("Tier"), options=list(TIER_LABELS.items())),
        FilterEqual(Customer.churn_status, _l("Churn status"),
                    options=list(CHURN_LABELS.items())),
        FilterEqual(Customer.review_status, _l("Review"), options=list(REVIEW_LABELS.items())),
        LocalDaysFilter(Customer.added_at, _l("Added")),
        FilterLike(Customer.industry, _l("Industry")),
    )
    column_formatters_detail = {
        "tags": tag_names_of, "tier": labelled(TIER_LABELS),
        "churn_status": labelled(CHURN_LABELS), "review_status": labelled(REVIEW_LABELS),
        "customer_type": labelled(TYPE_LABELS),
    }
    column_formatters = column_formatters_detail | {
        "name": one_line, "owner": one_line, "source": one_line, "external_id": short_id}

    # no tier: it follows from the annual value (on_model_change)
    form_columns = ("external_id", "name", "customer_type", "industry", "phone", "address",
                    "source", "owner", "lifecycle_stage", "churn_status", "annual_value",
                    "review_status", "review_reason")
    form_ajax_refs = {"owner": {"fields": ("name", "userid"), "page_size": 20}}
    form_overrides = {"lifecycle_stage": NameChoiceField}
    form_args = {"lifecycle_stage": {"choices": lifecycle_stages}}
    form_choices = {"customer_type": list(TYPE_LABELS.items()),
                    "churn_status": list(CHURN_LABELS.items()),
                    "review_status": list(REVIEW_LABELS.items())}

    # money leaves the list, the details and the filters for roles that may not see it
    _list_columns = MoneyHidden(lambda view, columns: view.without_money(columns))
    _details_columns = MoneyHidden(lambda view, columns: view.without_money(columns))
    _filter_args = MoneyHidden(lambda view, args: {
        key: (i, flt) for key, (i, flt) in args.items() if not view.is_money_filter(flt)})
    _filter_groups = MoneyHidden(lambda view, groups: OrderedDict(
        (key, group) for key, group in groups.items()
        if not any(view.is_money_filter(view._filters[f["index"]]) for f in group)))

    def without_money(self, columns) -> list:
        return [(name, label) for name, label in columns if name not in self.money_columns]

    def is_money_filter(self, flt) -> bool:
        return getattr(flt.column, "key", None) in self.money_columns

    def scope(self, query):
        return customers_in_scope(query)

    def validate_form(self, form) -> bool:
        if not super().validate_form(form):
            return False
        if self.is_model_form(form) and form.review_status.data == "rejected" \
                and not (form.review_reason.data or "").strip():
            form.review_reason.errors = [*form.review_reason.errors,
                                         str(_l("Say why the customer is rejected."))]
            return False
        return True

    def on_model_change(self, form, model: Customer, is_created: bool) -> None:
        settings = Settings.get(db.session)
        model.tier = tier_for(model.annual_value or 0, settings.tier_high_threshold,
                              settings.tier_potential_threshold)
        db.session.flush()  # a new customer's journal row needs its id
        journal_edit(db.session, model, getattr(model, "_journal_before", None))

    def update_model(self, form, model) -> bool:
        model._journal_before = journal_snapshot(model)
        return super().update_model(form, model)

    def get_query(self):
        return super().get_query().options(joinedload(Customer.owner),
                                           selectinload(Customer.tags))

    # --- bulk tags: pick rows on the list, then the tag --------------------------------
    def is_action_allowed(self, name: str) -> bool:
        if name in ("add_tag", "remove_tag"):
            return self._may(self.tag_roles)
        return super().is_action_allowed(name)

    def _ask_for_tag(self, ids, mode: str):
        form = TagActionForm(formdata=None, ids=",".join(ids), mode=mode)
        return self.render("admin/customer_tag_action.html", form=form, count=len(ids),
                           adding=mode == "add")

    @action("add_tag", _l("Add a tag"))
    def action_add_tag(self, ids):
        return self._ask_for_tag(ids, "add")

    @action("remove_tag", _l("Remove a tag"))
    def action_remove_tag(self, ids):
        return self._ask_for_tag(ids, "remove")

    @expose("/tags/", methods=("POST",))
    def tag_view(self):
        if not self.is_action_allowed("add_tag"):
            return self.inaccessible_callback("tag_view")
        form = TagActionForm(request.form)
        if not form.validate() or form.mode.data not in ("add", "remove"):
            flash(_l("Nothing was changed: pick a tag."), "error")
            return redirect(self.get_url(".index_view"))
        wanted = [int(i) for i in form.ids.data.split(",") if i.strip().isdigit()]
        visible = self.get_query().with_entities(Customer.id).filter(Customer.id.in_(wanted))
        ids = [row.id for row in visible]  # only rows this user may see
        tag = db.session.scalar(select(Tag).where(Tag.name == form.tag.data))
        changed = tag_customers(db.session, ids, tag, adding=form.mode.data == "add")
        db.session.commit()
        flash(ngettext("Tag changed for %(num)d customer.", "Tag changed for %(num)d customers.",
                       changed), "success")
        return redirect(self.get_url(".index_view"))


class OrderView(SecuredModelView):
    """Orders carry amounts: finance and admin only, read-only."""

    roles = ("admin", "finance")
    write_roles = ()
    simple_list_pager = True
    column_list = ("order_id", "customer", "amount", "placed_at")
    column_labels = {"order_id": _l("Order"), "customer": _l("Customer"),
                     "amount": _l("Amount"), "placed_at": _l("Placed")}
    column_searchable_list = ("order_id",)
    column_sortable_list = ("placed_at", "amount")
    column_default_sort = ("placed_at", True)
    column_filters = (LocalDaysFilter(Order.placed_at, _l("Placed")),)

    def get_query(self):
        return super().get_query().options(joinedload(Order.customer))

