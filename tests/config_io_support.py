"""Documents, counts and CLI helpers shared by the config-as-code database tests."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml
from sqlalchemy import func, select

from models import (
    Sop, db,
)
from models.audit import acting_as
from config_io.importer import dump_yaml, export_document, import_document

FIXTURE = Path(__file__).parent / "fixtures" / "full_config.yaml"
SECRETS = ("secret", "callback_token", "callback_aes_key")


# --- helpers ------------------------------------------------------------------------------
def full_doc() -> dict:
    return yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


def import_ok(doc) -> None:
    with acting_as("test"):
        problems = import_document(db.session, copy.deepcopy(doc))
        assert [str(p) for p in problems] == []
        db.session.commit()


def import_problems(doc) -> list[str]:
    with acting_as("test"):
        problems = [str(p) for p in import_document(db.session, copy.deepcopy(doc))]
    db.session.rollback()
    return problems


def exported_text() -> str:
    text = dump_yaml(export_document(db.session))
    db.session.rollback()
    return text


def row_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(select(func.count()).select_from(t))
            for t in db.metadata.sorted_tables}


def cli(app, *args, input=None):
    """Run `flask sop ...`; it shares the test's app context (and so its session)."""
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["sop", *args], input=input)
    db.session.expire_all()
    return result


def sop_by_key(key: str) -> Sop:
    return db.session.scalar(select(Sop).where(Sop.key == key))


def by_key(doc: dict) -> dict:
    """A document with each section as {key: item}, so row order does not matter."""
    keys = {"employees": "userid", "tags": "name"}
    out = {"settings": doc.get("settings")}
    for section in ("employees", "tags", "materials", "segments", "sops", "journeys"):
        name = keys.get(section, "key")
        out[section] = {item[name]: item for item in doc.get(section) or []}
    return out


def care_doc(steps, status="draft", kind="nurture", target=None) -> dict:
    return {
        "tags": [{"name": "VIP"}, {"name": "已复购"}],
        "sops": [{"key": "care", "name": "关怀", "kind": kind, "status": status,
                  "target": {"tags_any": ["VIP"]} if target is None else target,
                  "steps": steps}],
    }


def keyed_steps(**texts) -> list[dict]:
    days = {"a": 0, "b": 3, "c": 7}
    return [{"key": k, "day": days[k], "at": "10:00", "action": "message", "text": t}
            for k, t in texts.items()]


def step_ids() -> dict:
    return {s.key or s.position: s.id for s in sop_by_key("care").steps}
