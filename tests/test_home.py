"""The admin home shows each role its own figures."""
import re
from datetime import datetime, timedelta, timezone

from models import Customer, Order, Sop, db
from tests.conftest import login, make_employee, make_user


def add_customer(external_id, owner, days_ago=1, name="客户"):
    c = Customer(external_id=external_id, name=name, owner=owner,
                 added_at=datetime.now(timezone.utc) - timedelta(days=days_ago))
    db.session.add(c)
    return c


def page(client, user):
    login(client, user)
    client.get("/lang/en")
    return client.get("/admin/").get_data(as_text=True)


def card_value(html: str, title: str) -> str:
    """The big figure of the card titled `title` (linked or not)."""
    found = re.search(rf">{re.escape(title)}</div>\s*<div class=\"h3 mb-0\">(?:<a [^>]*>)?([^<]*)",
                      html)
    assert found, f"no card {title!r}"
    return found.group(1)


def test_sales_sees_only_own_customers_and_no_config(client):
    mine, other = make_employee("lina"), make_employee("wang", department="华南销售")
    for i in range(3):
        add_customer(f"m{i}", mine)
    add_customer("old", mine, days_ago=20)
    for i in range(5):
        add_customer(f"o{i}", other)
    db.session.commit()
    make_user("sales1", "sales", employee=mine)
    html = page(client, "sales1")
    assert card_value(html, "Customers") == "4"
    assert card_value(html, "Added in the last 7 days") == "3"
    assert "Running SOPs" not in html and "Latest changes" not in html
    assert "Orders in the last 30 days" not in html


def test_admin_sees_sop_counts_chart_table_and_escaped_changes(client):
    emp = make_employee("lina")
    add_customer("x1", emp, days_ago=2, name="<script>alert(1)</script>")
    add_customer("x2", emp, days_ago=2)
    add_customer("x3", emp, days_ago=40)
    db.session.add_all([Sop(key="a", name="A", status="running"),
                        Sop(key="b", name="B", status="paused")])
    db.session.commit()
    make_user("boss", "admin")
    html = page(client, "boss")
    assert card_value(html, "Running SOPs") == "1"
    assert "1 paused · 0 draft · 0 ended" in html
    # the chart's table: 30 days, the two recent customers, not the old one
    chart = html.split("Customers added per day (last 30 days)</figcaption>", 1)[1]
    table = chart.split("<summary", 1)[1].split("</table>", 1)[0]
    counts = [int(td.split("</td>")[0]) for td in table.split("<tr><td>")[1:]
              for td in [td.split("<td>")[1]]]
    assert len(counts) == 30 and sum(counts) == 2
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_finance_sees_orders_of_the_last_30_days_only(client):
    emp = make_employee("lina")
    c = add_customer("c", emp)
    now = datetime.now(timezone.utc)
    db.session.add_all([Order(order_id="o1", customer=c, amount=100, placed_at=now),
                        Order(order_id="o2", customer=c, amount=50.5, placed_at=now),
                        Order(order_id="o3", customer=c, amount=999, placed_at=now - timedelta(days=45))])
    db.session.commit()
    make_user("fin", "finance")
    html = page(client, "fin")
    assert card_value(html, "Orders in the last 30 days") == "2"
    assert "¥ 150.50" in html
    assert "Customers</div>" not in html
