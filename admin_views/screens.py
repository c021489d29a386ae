"""The list of screens, in menu order. Who may open, write and see which rows is
declared on each view (`roles`, `write_roles`, `scope`); a menu entry shows only
for the roles that may open it.

    everyone but finance: the inbox (their open tasks, by the same row rules as Tasks)
    admin, manager, sales, service: log follow-ups and raise requests for the customers
             they see; admin and managers decide reviews from their inbox
    admin    everything (the work calendar: ops may read it)
    ops      SOPs, journeys, SOP versions, group sends (all customers; a manager composes
             them for their department's customers), tags, segments, materials; the data pages and
             the quota calendar; SOP customers
             (manual end, re-add); deliveries, held deliveries, send batches and tasks;
             customers read-only; WeCom callbacks and tag write-backs, read-only
    manager  customers, employees, SOP and journey data, SOP customers, deliveries (also
             held ones), send
             batches and tasks of their own department, read-only
    sales    own customers, read-only except the bulk tag actions; own tasks
    service  customers without money columns, read-only; own tasks
    finance  orders, read-only
    reports  the monthly follow-up report: admin and ops everyone, a manager their
             department, sales their own row; follow-up records, dormant customers and
             prospect violations by the customer scope (not finance)
"""
from flask_babel import lazy_gettext as _l


def all_views():
    from admin_views.batches import SendBatchView
    from admin_views.api_docs import ApiDocsView
    from admin_views.calendar import CalendarDayView
    from admin_views.catalog import MaterialView, SegmentView, TagView
    from admin_views.customers import CustomerView, OrderView
    from admin_views.data_pages import JourneyDataView, QuotaCalendarView
    from admin_views.deliveries import DeliveryView, HeldDeliveryView
    from admin_views.enrollments import EnrollmentView
    from admin_views.followup_lists import DormantCustomerView, FollowUpView, ProspectViolationView
    from admin_views.followups import FollowUpFormView, RequestView
    from admin_views.group_sends import GroupSendView
    from admin_views.inbox import InboxView
    from admin_views.journeys import JourneyView
    from admin_views.org import DepartmentView, EmployeeView, UserView
    from admin_views.reports import FollowupReportView
    from admin_views.sop_data import SopDataView
    from admin_views.sops import SopView
    from admin_views.system import AuditLogView, SettingsView, SopVersionView
    from admin_views.tasks import TaskView
    from admin_views.wecom import WeComCallbackView, WeComTagWriteView
    from models import (
        AuditLog, CalendarDay, Customer, Delivery, Department, Employee, Enrollment, FollowUp, Journey, Material,
        Order, Segment, SendBatch, Settings, Sop, SopVersion, Tag, Task, User, WeComCallback,
        WeComTagWrite,
    )

    sop, customers, content = _l("SOP"), _l("Customers"), _l("Content")
    org, system = _l("Organisation"), _l("System")
    reports, data = _l("Reports"), _l("Data")
    return [
        InboxView(_l("Inbox"), endpoint="inbox"),  # top level, first: where employees start
        FollowUpFormView(_l("Log follow-up"), endpoint="followup"),  # from the inbox, no menu
        SopView(Sop, _l("SOPs"), category=sop, endpoint="sops"),
        JourneyView(Journey, _l("Journeys"), category=sop, endpoint="journeys"),
        EnrollmentView(Enrollment, _l("SOP customers"), category=sop, endpoint="enrollments"),
        DeliveryView(Delivery, _l("Deliveries"), category=sop, endpoint="deliveries"),
        HeldDeliveryView(Delivery, _l("Held deliveries"), category=sop,
                         endpoint="held_deliveries"),
        SendBatchView(SendBatch, _l("Send batches"), category=sop, endpoint="send_batches"),
        SopVersionView(SopVersion, _l("SOP versions"), category=sop, endpoint="sop_versions"),
        GroupSendView(_l("Group sends"), category=sop, endpoint="group_sends"),
        SopDataView(_l("SOP data"), category=data, endpoint="sop_data"),
        JourneyDataView(_l("Journey data"), category=data, endpoint="journey_data"),
        QuotaCalendarView(_l("Quota calendar"), category=data, endpoint="quota_calendar"),
        CustomerView(Customer, _l("Customers"), category=customers, endpoint="customers"),
        TaskView(Task, _l("Tasks"), category=customers, endpoint="tasks"),
        RequestView(_l("New request"), category=customers, endpoint="new_request"),
        OrderView(Order, _l("Orders"), category=customers, endpoint="orders"),
        FollowUpView(FollowUp, _l("Follow-up records"), category=customers, endpoint="followups"),
        DormantCustomerView(Customer, _l("Dormant customers"), category=customers,
                            endpoint="dormant_customers"),
        ProspectViolationView(_l("Prospect violations"), category=customers,
                              endpoint="prospect_violations"),
        FollowupReportView(_l("Monthly follow-up report"), category=reports,
                           endpoint="followup_report"),
        TagView(Tag, _l("Tags"), category=content, endpoint="tags"),
        SegmentView(Segment, _l("Segments"), category=content, endpoint="segments"),
        MaterialView(Material, _l("Materials"), category=content, endpoint="materials"),
        DepartmentView(Department, _l("Departments"), category=org, endpoint="departments"),
        EmployeeView(Employee, _l("Employees"), category=org, endpoint="employees"),
        UserView(User, _l("Users"), category=org, endpoint="users"),
        SettingsView(Settings, _l("Settings"), category=system, endpoint="settings"),
        CalendarDayView(CalendarDay, _l("Work calendar"), category=system,
                        endpoint="work_calendar"),
        ApiDocsView(_l("API documentation"), category=system, endpoint="api_docs"),
        AuditLogView(AuditLog, _l("Audit log"), category=system, endpoint="audit_log"),
        WeComCallbackView(WeComCallback, _l("WeCom callbacks"), category=system,
                          endpoint="wecom_callbacks"),
        WeComTagWriteView(WeComTagWrite, _l("WeCom tag write-backs"), category=system,
                          endpoint="wecom_tag_writes"),
    ]
