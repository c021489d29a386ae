"""Helpers for the admin screen tests: read messages off rendered form fields."""
from __future__ import annotations

from html.parser import HTMLParser

from tests.conftest import login, make_user


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text: list[str] = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("root", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.text.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    return builder.root


def field_errors(html: str, field_id: str) -> list[str]:
    """The messages shown under the form field with id `field_id` (its own form-group)."""
    root = parse(html)
    field = next((n for n in root.walk() if n.attrs.get("id") == field_id), None)
    assert field is not None, f"no field {field_id!r} on the page"
    group = field.parent
    while group is not None and "form-group" not in group.classes:
        group = group.parent
    assert group is not None, f"field {field_id!r} is not inside a form-group"
    return [li.all_text().strip()
            for box in group.children if "invalid-feedback" in box.classes
            for li in box.walk() if li.tag == "li"]


def flashed_errors(html: str) -> list[str]:
    root = parse(html)
    return [n.all_text().strip() for n in root.walk()
            if n.tag == "div" and "alert" in n.classes and "alert-danger" in n.classes]


def menu_links(html: str) -> set[str]:
    """The screens linked from the menu (the first navbar list), as URL paths."""
    root = parse(html)
    nav = next(n for n in root.walk() if n.tag == "ul" and "navbar-nav" in n.classes)
    return {n.attrs["href"] for n in nav.walk()
            if n.tag == "a" and n.attrs.get("href", "").startswith("/admin/")}


def english(client):
    """Switch the session to English, so messages compare with their msgids."""
    client.get("/lang/en")
    return client


def fresh_client(app):
    """Another client (conftest's FreshClient starts every request with an empty `g`)."""
    return app.test_client()


def admin_view(app, endpoint: str):
    return next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == endpoint)


def signed_in(app, username: str):
    """A fresh client signed in as `username`, showing the admin in English."""
    from tests.conftest import login

    client = fresh_client(app)
    login(client, username)
    return english(client)


# --- a signed-in client per role (the `org` fixture is in conftest) ---------------------
def client_for(app, role, employee=None):
    make_user(role, role, employee)
    client = fresh_client(app)
    login(client, role)
    return english(client)
