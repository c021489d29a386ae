"""Materials (素材) and the enterprise settings row."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jobs.core.vocab import (
    CHANNELS, DEFAULT_LIFECYCLE_STAGES, DEFAULT_TIMEZONE, MATERIAL_KINDS, QUOTA_PERIODS,
)
from models.base import UTCDateTime, db, in_check


class Material(db.Model):
    """Text snippet, link, image/file upload or mini-program card."""

    __tablename__ = "materials"
    __audited__ = True
    __table_args__ = (CheckConstraint(in_check("kind", MATERIAL_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str | None] = mapped_column(Text)
    file_path: Mapped[str | None] = mapped_column(String(300))
    # the file uploaded to WeCom (media/upload): its id lives 3 days (jobs/wecom_media.py)
    media_id: Mapped[str | None] = mapped_column(String(200))
    media_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __str__(self) -> str:
        return f"{self.title} [{self.key}]"


class Settings(db.Model):
    """The one row of enterprise settings (id is always 1)."""

    __tablename__ = "settings"
    __audited__ = True
    __audit_hidden__ = ("wecom_secret", "wecom_aes_key", "wecom_callback_token")
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint(in_check("quota_period", QUOTA_PERIODS), name="quota_period"),
        CheckConstraint(in_check("channel", CHANNELS), name="channel"),
        CheckConstraint("quota_limit >= 1", name="quota_limit"),
        CheckConstraint("max_lateness_days >= 0", name="max_lateness_days"),
        CheckConstraint("tier_potential_threshold <= tier_high_threshold", name="tiers"),
        CheckConstraint("followup_days_high >= 1 AND followup_days_potential >= 1 AND "
                        "followup_days_normal >= 1 AND followup_days_nurture >= 1",
                        name="followup_days"),
        CheckConstraint("request_sla_hours >= 1 AND review_working_days >= 0 AND "
                        "churn_warning_days >= 1 AND dormant_after_days >= 1 AND "
                        "prospect_min_followups >= 0 AND prospect_window_days >= 1",
                        name="crm_rules"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    quota_limit: Mapped[int] = mapped_column(Integer, default=1)
    quota_period: Mapped[str] = mapped_column(String(10), default="day")
    daily_budget: Mapped[int | None] = mapped_column(Integer)
    max_lateness_days: Mapped[int] = mapped_column(Integer, default=3)
    channel: Mapped[str] = mapped_column(String(10), default="task")
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    lifecycle_stages: Mapped[list] = mapped_column(
        JSON, default=lambda: list(DEFAULT_LIFECYCLE_STAGES))
    tier_high_threshold: Mapped[int] = mapped_column(Integer, default=500_000)
    tier_potential_threshold: Mapped[int] = mapped_column(Integer, default=100_000)
    wecom_corp_id: Mapped[str | None] = mapped_column(String(64))
    wecom_secret: Mapped[str | None] = mapped_column(String(128))
    wecom_callback_token: Mapped[str | None] = mapped_column(String(64))
    wecom_aes_key: Mapped[str | None] = mapped_column(String(64))
    wecom_api_base_url: Mapped[str | None] = mapped_column(String(300))
    welcome_message: Mapped[str | None] = mapped_column(Text)
    # follow-up cadences and CRM rules (SPEC §6)
    followup_days_high: Mapped[int] = mapped_column(Integer, default=7)
    followup_days_potential: Mapped[int] = mapped_column(Integer, default=14)
    followup_days_normal: Mapped[int] = mapped_column(Integer, default=30)
    followup_days_nurture: Mapped[int] = mapped_column(Integer, default=60)
    request_sla_hours: Mapped[int] = mapped_column(Integer, default=24)
    review_working_days: Mapped[int] = mapped_column(Integer, default=1)
    churn_warning_days: Mapped[int] = mapped_column(Integer, default=60)
    dormant_after_days: Mapped[int] = mapped_column(Integer, default=180)
    prospect_stage: Mapped[str | None] = mapped_column(String(50))  # None: the first stage
    prospect_min_followups: Mapped[int] = mapped_column(Integer, default=2)
    prospect_window_days: Mapped[int] = mapped_column(Integer, default=14)

    def __str__(self) -> str:
        return "settings"

    @classmethod
    def get(cls, session) -> Settings:
        """The settings row, created with defaults on first use."""
        row = session.get(cls, 1)
        if row is None:
            row = cls(id=1)
            session.add(row)
            session.flush()
        return row
