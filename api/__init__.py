"""The REST API under /api/v1: bearer tokens in, JSON out, JSON errors."""
from api.blueprint import api_bp, json_for_unrouted_api_paths

__all__ = ["api_bp", "json_for_unrouted_api_paths"]
