"""The Chinese catalogue: complete, compiled, in step with the sources, and in use.

After adding a UI string, run `bash admin_views/i18n.sh`, translate the new entries
of admin_views/translations/zh_Hans_CN/LC_MESSAGES/messages.po and run it again.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from sqlalchemy import func, select

from models import Sop, db
from models.audit import acting_as
from tests.conftest import login, make_user, post_form
from tests.test_admin_support import field_errors

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "admin_views" / "translations"
MESSAGES = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES"
DOMAINS = ("messages", "admin")  # ours, and the gaps of Flask-Admin's own catalogue
PLACEHOLDER = re.compile(r"\{\w+\}|%\(\w+\)[sd]")
CJK = re.compile(r"[\u4e00-\u9fff]")


def read_catalog(path: Path):
    with path.open("rb") as fh:
        return read_po(fh, locale="zh_Hans_CN") if path.suffix in (".po", ".pot") \
            else read_mo(fh)


def entries(catalog) -> list:
    return [m for m in catalog if m.id]


def texts(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


# --- the catalogue files ---------------------------------------------------------
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_entry_is_translated_and_none_is_fuzzy(domain):
    catalog = read_catalog(MESSAGES / f"{domain}.po")
    assert not catalog.fuzzy, f"{domain}.po: the header is marked fuzzy"
    untranslated = [m.id for m in entries(catalog) if not all(texts(m.string))]
    fuzzy = [m.id for m in entries(catalog) if m.fuzzy]
    assert untranslated == [], f"{domain}.po: empty msgstr for {untranslated}"
    assert fuzzy == [], f"{domain}.po: fuzzy entries {fuzzy}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_placeholders_and_add_no_markup(domain):
    """`{what}` and `%(name)s` survive translation; descriptions are rendered unescaped,
    so a translation must not bring in '<' or '&' its msgid does not have."""
    wrong = []
    for m in entries(read_catalog(MESSAGES / f"{domain}.po")):
        source = texts(m.id)[-1]
        for text in texts(m.string):
            if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(source)):
                wrong.append((m.id, text))
            if any(c in text and c not in source for c in "<&"):
                wrong.append((m.id, text))
    assert wrong == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_committed_mo_matches_the_po(domain):
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(MESSAGES / f"{domain}.po"))
    compiled.seek(0)
    expected = {texts(m.id): texts(m.string) for m in entries(read_mo(compiled))}
    committed = {texts(m.id): texts(m.string)
                 for m in entries(read_catalog(MESSAGES / f"{domain}.mo"))}
    assert committed == expected, \
        f"{domain}.mo is stale: run `bash admin_views/i18n.sh compile`"


def msgids(catalog) -> set[str]:
    return {texts(m.id)[0] for m in entries(catalog)}


def test_po_holds_exactly_the_template_msgids():
    template = msgids(read_catalog(TRANSLATIONS / "messages.pot"))
    po = msgids(read_catalog(MESSAGES / "messages.po"))
    assert sorted(template - po) == [], "not in messages.po: run `bash admin_views/i18n.sh`"
    assert sorted(po - template) == [], "obsolete in messages.po: run `bash admin_views/i18n.sh`"


def test_template_is_up_to_date_with_the_sources(tmp_path):
    """Extract again (the same command as admin_views/i18n.sh) and compare msgids."""
    fresh = tmp_path / "messages.pot"
    env = dict(os.environ, PYBABEL=str(Path(sys.executable).parent / "pybabel"))
    done = subprocess.run(["bash", str(ROOT / "admin_views" / "i18n.sh"), "pot", str(fresh)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    extracted = msgids(read_catalog(fresh))
    committed = msgids(read_catalog(TRANSLATIONS / "messages.pot"))
    assert sorted(extracted - committed) == [], \
        "new msgids: run `bash admin_views/i18n.sh` and translate them in messages.po"
    assert sorted(committed - extracted) == [], \
        "msgids no longer in the sources: run `bash admin_views/i18n.sh`"


# --- the running app ------------------------------------------------------------------
def body(resp) -> str:
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_login_page_is_chinese_by_default_and_english_after_switching(client):
    html = body(client.get("/login"))
    assert '<html lang="zh-CN">' in html
    assert "<title>登录 - 客户SOP</title>" in html
    assert '<label for="password">密码</label>' in html
    client.get("/lang/en")
    html = body(client.get("/login"))
    assert "<title>Sign in - Customer SOP</title>" in html and "登录" not in html


def test_admin_home_is_chinese_by_default_and_english_after_switching(client):
    make_user("boss", "admin")
    login(client, "boss")
    html = body(client.get("/admin/"))
    for text in ("欢迎，boss", "组织架构", "操作日志", "人群包", "退出登录"):
        assert text in html, text
    assert "Organisation" not in html and "Sign out" not in html

    client.get("/lang/en")
    html = body(client.get("/admin/"))
    for text in ("Welcome, boss", "Organisation", "Audit log", "Segments", "Sign out"):
        assert text in html, text
    assert not CJK.search(html.replace("中文", "")), CJK.findall(html)[:20]


def test_sop_list_is_chinese_by_default_and_english_after_switching(client):
    with acting_as("test"):
        db.session.add(Sop(key="revisit", name="Revisit", kind="nurture", status="paused"))
        db.session.commit()
    make_user("boss", "admin")
    login(client, "boss")
    html = body(client.get("/admin/sops/"))
    for text in (">优先级</a>", ">更新时间</a>", "客户培育SOP", "已暂停", "列表 (1)"):
        assert text in html, text
    client.get("/lang/en")
    html = body(client.get("/admin/sops/"))
    for text in (">Priority</a>", ">Updated</a>", "Nurture SOP", "Paused", "List (1)"):
        assert text in html, text
    assert "客户培育SOP" not in html and "优先级" not in html


def sop_form(**step) -> dict:
    data = {"key": "welcome", "name": "Welcome", "kind": "new_customer", "priority": "0",
            "entry_window_hours": "24", "batch_size": "200", "batch_interval_minutes": "10",
            "conversion_days": "30", "holdout_percent": "0"}
    data.update({f"steps-0-{name}": value for name, value in step.items()})
    return data


def test_rule_message_on_the_sop_form_is_chinese_by_default(client):
    make_user("boss", "admin")
    login(client, "boss")
    bad_day = sop_form(day="-1", at_time="10:00", action="message", text="你好")
    resp = post_form(client, "/admin/sops/new/", bad_day)
    assert field_errors(body(resp), "steps-0-day") == ["不能小于 0"]
    assert db.session.scalar(select(func.count()).select_from(Sop)) == 0

    client.get("/lang/en")
    resp = post_form(client, "/admin/sops/new/", bad_day)
    assert field_errors(body(resp), "steps-0-day") == ["must be ≥ 0"]


def test_words_inside_rule_messages_are_translated_too(client):
    """`at most {limit} {what}`: the word for {what} comes from the catalogue as well."""
    from models import Material

    with acting_as("test"):
        items = [Material(key=f"m{i}", kind="text", title=f"M{i}", content="x")
                 for i in range(10)]
        db.session.add_all(items)
        db.session.commit()
    make_user("boss", "admin")
    login(client, "boss")
    resp = post_form(client, "/admin/sops/new/", sop_form(
        day="0", at_time="10:00", action="message", text="你好",
        attachments=[str(m.id) for m in items]))
    assert field_errors(body(resp), "steps-0-attachments") == ["最多 9 个附件"]
