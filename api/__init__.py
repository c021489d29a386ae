"""The REST API under /api/v1: bearer tokens in, JSON out, JSON errors."""
from api.blueprint import api_bp, error_pages
from api import customers, deliveries, events, sops, tasks  # noqa: F401  (register their routes)

__all__ = ["api_bp", "error_pages"]
