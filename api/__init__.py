"""The REST API under /api/v1: bearer tokens in, JSON out, JSON errors."""
from api.blueprint import api_bp, error_pages
from api import events  # noqa: F401  (registers its routes on api_bp)

__all__ = ["api_bp", "error_pages"]
