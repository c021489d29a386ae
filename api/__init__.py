"""The REST API under /api/v1: bearer tokens in, JSON out, JSON errors."""
from api.blueprint import api_bp, error_pages
from api import crm, customers, deliveries, events, group_sends, sops, tasks  # noqa: F401  (register routes)

__all__ = ["api_bp", "error_pages"]
