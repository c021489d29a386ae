"""Attachments as WeCom media (SPEC §5, issue 15): an image, a file or a mini-program
card's picture goes to WeCom once with `media/upload`; its media id is kept on the
material with the time of the upload and used until a little before its 3 days are up,
then uploaded again. A material without an uploaded file keeps its link (`pic_url`
for an image, a link card for a file).
"""
from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import select

from jobs.channels import Rejected
from jobs.core.media import is_fresh, media_type
from models import Material


class MediaCache:
    def __init__(self, upload, folder: str | None):
        self.upload = upload  # (media type, file name, bytes) -> media id
        self.folder = folder

    def media_id(self, session, material: dict, now: datetime, renew: bool = False) -> str | None:
        """The media id of a material's file (uploading it when none is fresh), or None
        when the material has no file to upload."""
        kind = media_type(material["kind"])
        row = session.scalar(select(Material).where(Material.key == material.get("key"))) \
            if kind and material.get("key") else None
        if row is None or not row.file_path:
            return None
        if not renew and row.media_id and is_fresh(row.media_uploaded_at, now):
            return row.media_id
        row.media_id = self.upload(kind, row.file_path, self._read(row.file_path))
        row.media_uploaded_at = now
        session.flush()
        return row.media_id

    def _read(self, name: str) -> bytes:
        folder = os.path.realpath(self.folder or ".")
        path = os.path.realpath(os.path.join(folder, name))
        if os.path.commonpath([folder, path]) != folder or not os.path.isfile(path):
            raise Rejected(f"material file {name!r} is missing from the upload folder")
        with open(path, "rb") as handle:
            return handle.read()


def attachment(material: dict, media_id: str | None) -> dict:
    """A material in add_msg_template's attachment shape."""
    kind = material["kind"]
    if kind == "image":
        image = {"media_id": media_id} if media_id else {"pic_url": material.get("url")}
        return {"msgtype": "image", "image": image}
    if kind == "file" and media_id:
        return {"msgtype": "file", "file": {"media_id": media_id}}
    if kind == "miniprogram":
        card = {"title": material["title"], "appid": material.get("content") or "",
                "page": material.get("url") or ""}
        if media_id:
            card["pic_media_id"] = media_id
        return {"msgtype": "miniprogram", "miniprogram": card}
    return {"msgtype": "link", "link": {"title": material["title"],
                                        "url": material.get("url") or ""}}
