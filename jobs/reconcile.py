"""Per-customer results of WeCom batches (`get_groupmsg_send_result`), every 10 minutes.

status 1 -> sent; 2 -> failed (not a friend of the sender); 3 -> the customer's
quota was already used elsewhere: the ledger is corrected (that period is full)
and the delivery deferred, to be planned again; 0 -> the employee has not sent it
yet, asked again next time. A batch with nothing left `queued` is done.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update

from jobs.channels import NotSent, OutcomeUnknown, Rejected
from jobs.planner import correct_ledger, quota_rule
from models import Customer, Delivery, SendBatch, Settings

SENT, NOT_FRIEND, QUOTA_HIT = 1, 2, 3


def reconcile(session, now: datetime, channel) -> dict:
    counts = {"batches": 0, "sent": 0, "failed": 0, "deferred": 0, "errors": 0}
    limit = quota_rule(Settings.get(session)).limit
    batches = session.scalars(select(SendBatch).where(
        SendBatch.channel == "wecom", SendBatch.status == "queued",
        SendBatch.msgid.is_not(None)).order_by(SendBatch.id)).all()
    for batch in batches:
        try:
            results = channel.results(batch.msgid, batch.sender.userid)
        except (NotSent, OutcomeUnknown, Rejected) as exc:
            batch.error = f"reconcile: {exc}"[:300]
            counts["errors"] += 1
            session.commit()
            continue
        queued = {row.external_id: row for row in session.execute(
            select(Delivery.id, Delivery.customer_id, Delivery.charged_period,
                   Customer.external_id)
            .join(Customer, Customer.id == Delivery.customer_id)
            .where(Delivery.batch_id == batch.id, Delivery.status == "queued"))}
        for result in results:
            row = queued.pop(result.get("external_userid"), None)
            if row is None:
                continue
            status = result.get("status")
            if status == SENT:
                sent_at = datetime.fromtimestamp(result.get("send_time") or now.timestamp(),
                                                 timezone.utc)
                _set(session, row.id, status="sent", sent_at=sent_at)
                counts["sent"] += 1
            elif status == NOT_FRIEND:
                _set(session, row.id, status="failed", reason="WeCom: not a friend of the sender")
                counts["failed"] += 1
            elif status == QUOTA_HIT:
                if row.charged_period is not None:
                    correct_ledger(session, row.customer_id, row.charged_period, limit)
                _set(session, row.id, status="deferred", batch_id=None, charged_period=None,
                     reason="WeCom: the customer's quota was already used (status 3)")
                counts["deferred"] += 1
            else:
                queued[result.get("external_userid")] = row  # 0: not sent yet
        batch.reconciled_at = now
        if not queued:
            batch.status, batch.finished_at = "done", now
        counts["batches"] += 1
        session.commit()
    return counts


def _set(session, delivery_id: int, **values) -> None:
    session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values)
                    .execution_options(synchronize_session=False))
