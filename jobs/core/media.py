"""WeCom media (素材上传, `media/upload`): what may be uploaded and how long an id lives. Pure.

WeCom's documented limits: an image is JPG or PNG up to 10 MB, a file up to 20 MB,
and every upload is more than 5 bytes. A media id lives 3 days from its upload; the
channel re-uploads a little before that, so a batch never carries an id about to lapse.
A mini-program card's picture (`pic_media_id`) is an image.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from jobs.core.checker import N_

MB = 1024 * 1024
MIN_BYTES = 5  # "all files must be larger than 5 bytes"
LIMITS = {  # media type -> (allowed extensions or None for any, max bytes)
    "image": (("jpg", "jpeg", "png"), 10 * MB),
    "file": (None, 20 * MB),
}
MEDIA_LIFETIME = timedelta(days=3)
RENEW_BEFORE = timedelta(hours=1)  # re-upload once less than this is left
KIND_MEDIA = {"image": "image", "file": "file", "miniprogram": "image"}  # material -> media


def media_type(kind: str) -> str | None:
    """The media type a material kind's file is uploaded as (None: not uploaded)."""
    return KIND_MEDIA.get(kind)


def type_problem(kind: str, filename: str) -> tuple[str, dict] | None:
    """Why WeCom would refuse this file name for a material of `kind` (template, params)."""
    media = media_type(kind)
    extensions = LIMITS[media][0] if media else None
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extensions is not None and ext not in extensions:
        return (N_("WeCom takes {kind} files as {types} only, not '{ext}'"),
                {"kind": kind, "types": "/".join(e.upper() for e in extensions), "ext": ext})
    return None


def upload_problem(kind: str, filename: str, size: int) -> tuple[str, dict] | None:
    """Why WeCom would refuse this file (its name and size in bytes) for `kind`."""
    media = media_type(kind)
    if media is None:
        return None
    most = LIMITS[media][1]
    problem = type_problem(kind, filename)
    if problem:
        return problem
    if size <= MIN_BYTES:
        return N_("the file is empty (WeCom needs more than {n} bytes)"), {"n": MIN_BYTES}
    if size > most:
        return (N_("the file is {size} MB; WeCom takes {kind} files up to {most} MB"),
                {"size": round(size / MB, 1), "kind": kind, "most": most // MB})
    return None


def is_fresh(uploaded_at: datetime | None, now: datetime) -> bool:
    """A cached media id still good to send as of `now`."""
    return uploaded_at is not None and uploaded_at <= now < \
        uploaded_at + MEDIA_LIFETIME - RENEW_BEFORE
