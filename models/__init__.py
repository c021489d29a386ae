"""All models, imported once so metadata is complete for Alembic and create_all."""
from models.audit import AuditLog
from models.base import db
from models.calendar import CalendarDay
from models.content import Material, Settings
from models.counter_triggers import install as _install_counter_triggers
from models.counters import (
    ConversionCount, CustomerHour, DeliveryCount, DeliveryHour, PlacementHour, PlacementMove,
)
from models.customers import Customer, CustomerTag, Order, Segment, Tag, TagChange
from models.delivery import BudgetDay, Delivery, QuotaLedger, SendBatch
from models.followups import FollowUp, RuleRun
from models.group_sends import GroupSend
from models.journal import ChangeJournal, ProcessedEvent
from models.journeys import (
    Journey, JourneyCondition, JourneyPlacement, JourneyReminder, JourneyRule, JourneyStage,
)
from models.org import ApiToken, Department, Employee, User
from models.sops import Enrollment, Sop, SopStep, SopVersion
from models.tasks import Task
from models.wecom import WeComCallback, WeComTagWrite

__all__ = [
    "db", "AuditLog", "Material", "Settings", "Customer", "CustomerTag", "Order",
    "Segment", "Tag", "TagChange", "Journey", "JourneyCondition", "JourneyReminder",
    "JourneyRule", "JourneyStage", "ApiToken", "Department", "Employee", "User", "Sop",
    "SopStep", "SopVersion", "ChangeJournal", "ProcessedEvent", "Delivery", "Enrollment",
    "JourneyPlacement", "Task", "SendBatch", "QuotaLedger", "BudgetDay",
    "FollowUp", "RuleRun", "GroupSend", "WeComCallback", "WeComTagWrite", "CalendarDay",
    "DeliveryCount", "DeliveryHour", "CustomerHour", "PlacementHour", "PlacementMove",
    "ConversionCount",
]

_install_counter_triggers(db.metadata)
