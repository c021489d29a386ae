"""Every field error of a form that failed to save, for the list at the top of the
page: a failed save otherwise says only "保存记录失败。" while the reason sits next to
its field, often thousands of pixels down (inline steps, stages, rules)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    where: str  # the field's label, with the inline row it belongs to ("步骤 2 · 文本")
    message: str
    anchor: str  # the field's element id, for the link


def _label(field) -> str:
    label = getattr(field, "label", None)
    return str(label.text) if label is not None and label.text else field.name


def _entries(field):
    """The rows of an inline list (FieldList of FormFields), else None."""
    entries = getattr(field, "entries", None)
    return entries if isinstance(entries, list) else None


def _walk(fields, prefix: str, out: list[Problem]) -> None:
    for field in fields:
        if field.type in ("CSRFTokenField", "HiddenField") or field.name == "csrf_token":
            continue
        rows = _entries(field)
        if rows is not None:
            for number, row in enumerate(rows, start=1):
                inner = getattr(row, "form", None)
                if inner is not None:
                    _walk(inner, f"{prefix}{_label(field)} {number} · ", out)
            errors = [e for e in field.errors if isinstance(e, str)] \
                if isinstance(field.errors, list) else []
        else:
            inner = getattr(field, "form", None)
            if inner is not None and field.type == "FormField":
                _walk(inner, prefix, out)
                continue
            errors = field.errors if isinstance(field.errors, (list, tuple)) else []
        for message in errors:
            if isinstance(message, str):
                out.append(Problem(prefix + _label(field), message, field.id))


def form_problems(form) -> list[Problem]:
    """Each field error of `form` (inline rows included), in the order of the form."""
    if form is None or not hasattr(form, "_fields"):
        return []
    out: list[Problem] = []
    _walk(form, "", out)
    return out
