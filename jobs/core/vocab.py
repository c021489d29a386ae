"""The fixed vocabularies and limits of the spec, in one place.

Models build their CHECK constraints from these; forms and the YAML importer
validate against them, so a limit is written once.
"""

ROLES = ("admin", "ops", "manager", "sales", "service", "finance")
EMPLOYEE_ROLES = ("sales", "service", "manager", "ops")

CUSTOMER_TYPES = ("enterprise", "individual")
CHURN_STATUSES = ("normal", "lost", "dormant")
TIERS = ("high", "potential", "normal")
REVIEW_STATUSES = ("pending", "activated", "rejected")
TAG_SOURCES = ("event", "rule", "manual", "sop", "import")

MATERIAL_KINDS = ("text", "link", "image", "file", "miniprogram")

SOP_KINDS = ("new_customer", "nurture", "playbook")
SOP_STATUSES = ("draft", "initializing", "running", "paused", "ended")
EDITABLE_TARGET_STATUSES = ("draft", "paused")
# Where a stored SOP's status may go by configuration; "initializing" is the engine's.
SOP_STATUS_MOVES = {
    "draft": ("running", "ended"),
    "initializing": ("running", "paused", "ended"),
    "running": ("paused", "ended"),
    "paused": ("running", "ended"),
    "ended": (),
}
STEP_ACTIONS = ("message", "task", "tag", "stage")
ENROLLMENT_STATUSES = ("active", "ended_early", "completed", "ended_manual")
DELIVERY_STATUSES = ("pending", "deferred", "queued", "sent", "failed", "skipped", "expired",
                     "cancelled")
# A step is done (for the normal end) once its delivery is in one of these.
DONE_DELIVERY_STATUSES = ("queued", "sent", "failed", "skipped", "expired", "cancelled")
OPEN_DELIVERY_STATUSES = ("pending", "deferred")
# A batch's life: planned -> sending -> queued -> done, or failed (models/delivery.py).
BATCH_STATUSES = ("planned", "sending", "queued", "done", "failed")
QUOTA_ACTIONS = ("message", "reminder")  # what the quota counts; playbook tasks use none
DELIVERY_ACTIONS = STEP_ACTIONS + ("reminder",)
TASK_KINDS = ("send", "reminder", "step", "followup", "request", "review")
TASK_STATUSES = ("open", "done", "cancelled")
EVENT_TYPES = (
    "customer_added", "customer_updated", "owner_changed", "customer_lost",
    "tag_added", "tag_removed", "stage_changed", "order_placed", "followup_logged",
)
# Follow-ups (SPEC §6): how the employee reached the customer, and what came of it.
FOLLOWUP_METHODS = ("phone", "visit", "online_meeting", "wecom", "email")
FOLLOWUP_OUTCOMES = ("none", "opportunity", "nurture", "lost")
# settings.crm in config as code: each key is the Settings column of the same name,
# with its bounds (integers) — the follow-up cadence and the CRM rules of SPEC §6.
CRM_SETTINGS = {
    "followup_days_high": (1, 365), "followup_days_potential": (1, 365),
    "followup_days_normal": (1, 365), "followup_days_nurture": (1, 730),
    "request_sla_hours": (1, 720), "review_working_days": (0, 30),
    "churn_warning_days": (1, 3650), "dormant_after_days": (1, 3650),
    "prospect_min_followups": (0, 100), "prospect_window_days": (1, 365),
}
CRM_TEXT_SETTINGS = ("prospect_stage",)  # a lifecycle stage; empty: the first stage
# Rule-made tasks say which rule made them (Task.rule): one open task per rule and customer.
TASK_RULES = ("cadence", "churn_warning", "review", "review_rejected")

QUOTA_PERIODS = ("day", "week", "month")
CALENDAR_KINDS = ("holiday", "workday")  # a day off / a make-up working day (调休)
CALENDAR_SOURCES = ("chinesecalendar", "manual")  # filled from the package / entered
CHANNELS = ("task", "wecom", "webhook")
CONDITION_KINDS = ("tags_any", "stage", "churn_status")
REMINDER_KINDS = ("stage", "followup")

DEFAULT_LIFECYCLE_STAGES = ("潜在", "新客户", "付费", "忠实")
DEFAULT_TIMEZONE = "Asia/Shanghai"

MAX_ATTACHMENTS = 9
MIN_VARIANTS, MAX_VARIANTS = 2, 4  # A/B variants of a message step
MAX_STAGES = 10
MAX_RULES_PER_STAGE = 5
MAX_CONDITIONS_PER_RULE = 5
MAX_ENABLED_JOURNEYS = 3
MAX_TEXT_BYTES = 4000
MAX_BATCH_SIZE = 10000
