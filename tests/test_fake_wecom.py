"""The fake WeCom server (tests/support/fake_wecom.py) over real HTTP: tokens, the
add_msg_template limits, send results and message lists with cursors, injected faults,
thread safety, wechatpy's enterprise client, and the command line."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support.fake_wecom import FakeWeCom

ROOT = Path(__file__).resolve().parents[1]
ADD = "externalcontact/add_msg_template"
RESULT = "externalcontact/get_groupmsg_send_result"
LIST = "externalcontact/get_groupmsg_list_v2"
TASK = "externalcontact/get_groupmsg_task"


@pytest.fixture
def wecom():
    with FakeWeCom().start() as server:
        yield server


def token(wecom) -> str:
    answer = requests.get(wecom.base_url + "gettoken", timeout=5,
                          params={"corpid": wecom.corp_id, "corpsecret": wecom.secret}).json()
    return answer["access_token"]


def post(wecom, endpoint, body, access_token=None, timeout=5):
    return requests.post(wecom.base_url + endpoint, json=body, timeout=timeout,
                         params={"access_token": access_token or token(wecom)})


def add(wecom, ids=("c1", "c2"), sender="zhangsan", text="您好", **extra) -> dict:
    body = {"chat_type": "single", "sender": sender, "external_userid": list(ids),
            "text": {"content": text}, **extra}
    return post(wecom, ADD, body).json()


# --- tokens --------------------------------------------------------------------------
def test_a_token_is_issued_for_the_right_secret_only(wecom):
    good = requests.get(wecom.base_url + "gettoken", timeout=5,
                        params={"corpid": wecom.corp_id, "corpsecret": wecom.secret})
    assert good.status_code == 200
    assert good.json()["errcode"] == 0 and good.json()["expires_in"] == 7200
    assert len(good.json()["access_token"]) >= 16
    bad = requests.get(wecom.base_url + "gettoken", timeout=5,
                       params={"corpid": wecom.corp_id, "corpsecret": "wrong"})
    assert (bad.status_code, bad.json()["errcode"]) == (200, 40001)  # WeCom errors are HTTP 200


def test_missing_and_unknown_tokens_are_40014_and_expired_ones_42001(wecom):
    missing = requests.post(wecom.base_url + ADD, json={}, timeout=5)
    assert missing.json()["errcode"] == 40014
    assert post(wecom, ADD, {}, access_token="never-issued").json()["errcode"] == 40014
    old = token(wecom)
    wecom.expire_tokens()
    assert post(wecom, ADD, {"sender": "a", "external_userid": ["c1"],
                             "text": {"content": "x"}}, access_token=old).json()["errcode"] == 42001
    assert wecom.messages == []
    assert add(wecom)["errcode"] == 0  # a token fetched afterwards works again


def test_a_token_lapses_after_its_ttl():
    with FakeWeCom(token_ttl=0).start() as wecom:
        assert post(wecom, RESULT, {"msgid": "msg1"}).json()["errcode"] == 42001


def test_unknown_paths_are_http_404(wecom):
    answer = requests.get(wecom.base_url + "externalcontact/nope", timeout=5)
    assert (answer.status_code, answer.json()["errcode"]) == (404, 404)


# --- add_msg_template ----------------------------------------------------------------
def test_add_msg_template_records_the_message_and_lists_non_friends(wecom):
    wecom.friends("zhangsan", ["c1", "c3"])
    first = add(wecom, ids=["c1", "c2", "c3"], text="春季护理提醒",
                attachments=[{"msgtype": "link", "link": {"title": "t", "url": "u"}}])
    second = add(wecom, ids=["c9"], sender="lisi")  # no friendship declared: all friends
    assert (first["errcode"], first["fail_list"]) == (0, ["c2"])
    assert second["fail_list"] == [] and first["msgid"] != second["msgid"]
    message = wecom.messages[0]
    assert (message["msgid"], message["sender"], message["text"]) == (
        first["msgid"], "zhangsan", "春季护理提醒")
    assert message["external_userid"] == ["c1", "c2", "c3"]
    assert message["delivered"] == ["c1", "c3"] and len(message["attachments"]) == 1
    assert abs(message["create_time"] - time.time()) < 5
    assert wecom.received() == [("zhangsan", "c1"), ("zhangsan", "c3"), ("lisi", "c9")]
    assert wecom.received("lisi") == [("lisi", "c9")]


def test_a_permissive_fake_ignores_declared_friendships():
    with FakeWeCom(strict_friends=False).start() as wecom:
        wecom.friends("zhangsan", ["c1"])
        assert add(wecom, ids=["c1", "c2"])["fail_list"] == []


@pytest.mark.parametrize("change, errcode", [
    ({"external_userid": [f"c{i}" for i in range(10_001)]}, 40058),
    ({"external_userid": []}, 40058),
    ({"sender": ""}, 40003),
    ({"text": {"content": "好" * 1333 + "ab"}}, 45002),  # 3,999 + 2 = 4,001 bytes
    ({"attachments": [{"msgtype": "image", "image": {"pic_url": "p"}}] * 10}, 45008),
    ({"text": {"content": ""}}, 44004),
    ({"chat_type": "group"}, 40058),
])
def test_each_limit_is_refused_and_nothing_is_recorded(wecom, change, errcode):
    body = {"sender": "zhangsan", "external_userid": ["c1"], "text": {"content": "hi"}, **change}
    answer = post(wecom, ADD, body).json()
    assert answer["errcode"] == errcode and answer["errmsg"]
    assert "msgid" not in answer and wecom.messages == []


def test_exactly_at_each_limit_is_accepted(wecom):
    answer = add(wecom, ids=[f"c{i}" for i in range(10_000)], text="好" * 1333 + "a",
                 attachments=[{"msgtype": "image", "image": {"pic_url": "p"}}] * 9)
    assert answer["errcode"] == 0 and len(wecom.messages[0]["external_userid"]) == 10_000


def test_a_body_that_is_not_json_is_47001(wecom):
    answer = requests.post(wecom.base_url + ADD, data=b"{not json", timeout=5,
                           params={"access_token": token(wecom)})
    assert answer.json()["errcode"] == 47001 and wecom.messages == []


# --- results, lists, tasks -----------------------------------------------------------
def test_send_results_carry_each_status_and_page_by_cursor(wecom):
    wecom.friends("zhangsan", ["c1", "c2", "c3", "c4"])
    msgid = add(wecom, ids=["c1", "c2", "c3", "c4", "c5"])["msgid"]
    wecom.set_result("c2", 0)
    wecom.set_result("c3", 3)
    access, rows, cursor, pages = token(wecom), [], "", 0
    while True:
        page = post(wecom, RESULT, {"msgid": msgid, "userid": "zhangsan", "limit": 2,
                                    "cursor": cursor}, access).json()
        assert page["errcode"] == 0 and len(page["send_list"]) <= 2
        rows += page["send_list"]
        pages, cursor = pages + 1, page["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert [(r["external_userid"], r["status"]) for r in rows] == [
        ("c1", 1), ("c2", 0), ("c3", 3), ("c4", 1), ("c5", 2)]  # c5: fail_list -> 2
    assert all(("send_time" in r) == (r["status"] == 1) for r in rows)
    assert {r["userid"] for r in rows} == {"zhangsan"}
    other = post(wecom, RESULT, {"msgid": msgid, "userid": "lisi"}, access).json()
    assert other["send_list"] == []  # only the sender's own rows


def test_send_results_refuse_an_unknown_msgid_or_cursor(wecom):
    msgid = add(wecom)["msgid"]
    assert post(wecom, RESULT, {"msgid": "nope"}).json()["errcode"] == 41063
    assert post(wecom, RESULT, {"msgid": msgid, "cursor": "zz"}).json()["errcode"] == 40058
    over = post(wecom, RESULT, {"msgid": msgid, "limit": 5000}).json()  # over max -> default
    assert len(over["send_list"]) == 2 and over["next_cursor"] == ""


def test_the_message_list_filters_by_creator_and_time(wecom):
    for at, sender, text in [(1000, "zhangsan", "a"), (2000, "lisi", "b"),
                             (3000, "zhangsan", "c"), (4000, "zhangsan", "d")]:
        wecom.clock = lambda at=at: at  # pin create_time
        add(wecom, sender=sender, text=text)
    access = token(wecom)
    found = post(wecom, LIST, {"chat_type": "single", "creator": "zhangsan", "filter_type": 2,
                               "start_time": 1000, "end_time": 3000}, access).json()
    assert [(m["text"]["content"], m["create_time"]) for m in found["group_msg_list"]] == [
        ("a", 1000), ("c", 3000)]
    assert found["group_msg_list"][0]["msgid"] == wecom.messages[0]["msgid"]
    assert found["group_msg_list"][0]["creator"] == "zhangsan"
    everyone = post(wecom, LIST, {"start_time": 1500, "end_time": 9999, "limit": 2}, access).json()
    assert [m["text"]["content"] for m in everyone["group_msg_list"]] == ["b", "c"]
    rest = post(wecom, LIST, {"start_time": 1500, "end_time": 9999, "limit": 2,
                              "cursor": everyone["next_cursor"]}, access).json()
    assert [m["text"]["content"] for m in rest["group_msg_list"]] == ["d"]
    assert rest["next_cursor"] == ""
    assert post(wecom, LIST, {"creator": "zhangsan"}, access).json()["errcode"] == 40058


def test_the_task_list_names_the_sender(wecom):
    msgid = add(wecom, sender="wangwu")["msgid"]
    answer = post(wecom, TASK, {"msgid": msgid, "limit": 10}).json()
    assert [(t["userid"], t["status"]) for t in answer["task_list"]] == [("wangwu", 2)]
    assert answer["next_cursor"] == "" and post(wecom, TASK, {"msgid": "x"}).json()["errcode"] == 41063


# --- injected faults -----------------------------------------------------------------
def test_an_injected_errcode_replaces_the_answer_the_given_number_of_times(wecom):
    wecom.fail_next("add_msg_template", errcode=45009, times=2)
    assert [add(wecom)["errcode"] for _ in range(3)] == [45009, 45009, 0]
    assert len(wecom.messages) == 1  # the refused calls were not processed
    gettokens = [r for r in wecom.requests_log if r["path"].endswith("gettoken")]
    assert all(r["response"]["errcode"] == 0 for r in gettokens)  # other paths untouched


def test_an_injected_http_500_is_not_processed(wecom):
    wecom.fail_next(ADD, http_status=500)
    answer = post(wecom, ADD, {"sender": "a", "external_userid": ["c1"], "text": {"content": "x"}})
    assert answer.status_code == 500 and wecom.messages == []
    assert wecom.requests_log[-1]["status"] == 500


def test_a_delay_times_the_client_out(wecom):
    access = token(wecom)
    wecom.fail_next(ADD, delay=0.6)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        post(wecom, ADD, {"sender": "a", "external_userid": ["c1"], "text": {"content": "x"}},
             access, timeout=0.2)
    assert time.monotonic() - started < 0.5
    assert wecom.messages == []  # a plain delay holds the processing back too
    deadline = time.monotonic() + 5
    while not wecom.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(wecom.messages) == 1  # ...then WeCom processes it anyway, answer unseen


def test_after_processing_records_the_message_while_the_client_sees_a_500(wecom):
    wecom.fail_next("add_msg_template", http_status=500, after_processing=True)
    answer = post(wecom, ADD, {"sender": "a", "external_userid": ["c1"], "text": {"content": "x"}})
    assert answer.status_code == 500 and "msgid" not in answer.text
    assert [m["sender"] for m in wecom.messages] == ["a"]
    listed = post(wecom, LIST, {"start_time": 0, "end_time": 2**31}).json()["group_msg_list"]
    assert [m["msgid"] for m in listed] == [wecom.messages[0]["msgid"]]  # reconcilable


def test_reset_clears_state_but_keeps_tokens(wecom):
    access = token(wecom)
    wecom.friends("a", ["c1"])
    wecom.set_result("c1", 3)
    add(wecom)
    wecom.fail_next(ADD, errcode=45009)
    wecom.reset()
    assert (wecom.messages, wecom.requests_log) == ([], [])
    body = {"sender": "a", "external_userid": ["c1", "c2"], "text": {"content": "x"}}
    answer = post(wecom, ADD, body, access).json()
    assert (answer["errcode"], answer["fail_list"]) == (0, [])
    rows = post(wecom, RESULT, {"msgid": answer["msgid"]}, access).json()["send_list"]
    assert [r["status"] for r in rows] == [1, 1]


def test_concurrent_posts_are_all_recorded_with_unique_msgids(wecom):
    access, answers = token(wecom), []

    def send(i):
        answers.append(post(wecom, ADD, {"sender": f"s{i % 3}", "external_userid": [f"c{i}"],
                                         "text": {"content": str(i)}}, access).json())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(answers) == 24 and {a["errcode"] for a in answers} == {0}
    assert len({a["msgid"] for a in answers}) == 24
    assert sorted(m["text"] for m in wecom.messages) == sorted(str(i) for i in range(24))
    assert len(wecom.requests_log) == 25  # the token and every post


# --- clients -------------------------------------------------------------------------
def test_wechatpy_enterprise_client_sends_through_the_fake(wecom):
    enterprise = pytest.importorskip("wechatpy.enterprise", reason="wechatpy is not installed")

    class Client(enterprise.WeChatClient):
        def fetch_access_token(self):  # wechatpy hardcodes the real host for gettoken
            return self._fetch_access_token(url=self.API_BASE_URL + "gettoken", params={
                "corpid": self.corp_id, "corpsecret": self.secret})

    client = Client(wecom.corp_id, wecom.secret, timeout=5)
    client.API_BASE_URL = wecom.base_url
    wecom.friends("zhangsan", ["c1"])
    answer = client.external_contact.add_msg_template({
        "chat_type": "single", "sender": "zhangsan", "external_userid": ["c1", "c2"],
        "text": {"content": "来自 wechatpy"}})
    assert (answer["errcode"], answer["fail_list"]) == (0, ["c2"])
    assert wecom.messages[0]["text"] == "来自 wechatpy"
    wecom.expire_tokens()  # wechatpy's auto_retry fetches a new token on 42001
    assert client.post(RESULT, data={"msgid": answer["msgid"]})["send_list"][0]["status"] == 1
    assert sum(r["path"].endswith("gettoken") for r in wecom.requests_log) == 2


def test_the_command_line_prints_its_url_and_is_permissive():
    process = subprocess.Popen([sys.executable, "-m", "tests.support.fake_wecom", "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/cgi-bin/")
        access = requests.get(base_url + "gettoken", timeout=5, params={
            "corpid": "ww-test-corp", "corpsecret": "test-secret"}).json()["access_token"]
        answer = requests.post(base_url + ADD, params={"access_token": access}, timeout=5, json={
            "sender": "a", "external_userid": ["c1"], "text": {"content": "x"}}).json()
        assert (answer["errcode"], answer["fail_list"]) == (0, [])
    finally:
        process.kill()
        process.wait(timeout=5)
