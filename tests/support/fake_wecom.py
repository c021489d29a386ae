"""A fake WeCom (企业微信) server for tests and benchmarks, spoken to over real HTTP.

Point wechatpy's `WeChatClient.API_BASE_URL` (or plain `requests`) at `base_url`.
Only the standard library and werkzeug are used; the server is a plain WSGI callable.

Endpoints (under /cgi-bin/; every JSON answer has errcode/errmsg, HTTP 200 unless said):
  GET  gettoken?corpid=&corpsecret=           -> access_token, expires_in (= token_ttl)
  POST externalcontact/add_msg_template       -> msgid, fail_list (non-friends of sender)
  POST externalcontact/get_groupmsg_send_result  send_list, next_cursor (limit <= 1000, default 500)
  POST externalcontact/get_groupmsg_list_v2   -> group_msg_list, next_cursor (limit <= 100, default 50)
  POST externalcontact/get_groupmsg_task      -> task_list, next_cursor (limit <= 1000, default 500)
  POST media/upload?type=image|file           multipart field `media` -> type, media_id, created_at;
                                             an id lives 3 days by `self.clock()`
  the contact book, corp tags, welcome messages and signed callbacks: fake_wecom_contacts.py
  anything else                               -> HTTP 404, {"errcode": 404, ...}
A limit over the maximum falls back to the default, as WeCom documents. Cursors are
opaque strings ("c<offset>"); pass back `next_cursor` unchanged, "" = last page.

Error codes (real WeCom global codes where one fits; marked * where the fake chose):
  40001 invalid credential           gettoken with a wrong corpid or secret
  40014 invalid access_token         missing or never-issued access_token (real WeCom says
                                     41001 for a missing one; wechatpy treats both alike)
  42001 access_token expired         token_ttl elapsed, or after expire_tokens()
  40003 invalid userid               add_msg_template without a sender
  40058 invalid parameter            empty or > 10,000 external_userid, chat_type other
                                     than "single", missing start/end_time, bad cursor
  44004 empty content                add_msg_template with neither text nor attachments
  45002 content size out of limit    text.content over 4,000 bytes of UTF-8
  45008 * too many attachments       more than 9 attachments
  41063 * invalid msgid              get_groupmsg_send_result/task for an unknown msgid
  47001 data format error            a POST body that is not a JSON object
  40004 invalid media type           media/upload with a type other than image/voice/video/file
  40005 invalid file type            an image that is not JPG/PNG
  40006 invalid file size            5 bytes or less, an image over 10 MB, a file over 20 MB
  41005 media data missing           media/upload without the `media` part
  40007 invalid media_id             add_msg_template naming a media_id / pic_media_id that
                                     was never uploaded or is older than 3 days

Times: create_time/send_time come from `self.clock()` (default time.time), so a test
whose product runs on a simulated clock can pin it: `wecom.clock = lambda: now.timestamp()`.
Token expiry always runs on the real monotonic clock.

Command line (for benchmarks in another process; friendships are permissive there):
  python -m tests.support.fake_wecom --port 0    # prints the base URL, serves until killed
"""
from __future__ import annotations

import argparse
import itertools
import json
import secrets
import threading
import time
from typing import Iterable

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.support.fake_wecom_contacts import ContactBook

PREFIX = "/cgi-bin/"
MAX_IDS, MAX_TEXT_BYTES, MAX_ATTACHMENTS = 10_000, 4_000, 9
MEDIA_SECONDS = 3 * 86400  # a media id lives 3 days
MEDIA_LIMITS = {"image": 10 << 20, "voice": 2 << 20, "video": 10 << 20, "file": 20 << 20}


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # one access-log line per call would drown test output
        pass


def _err(code: int, msg: str) -> tuple[int, dict]:
    return 200, {"errcode": code, "errmsg": msg}


def _page(items: list, body: dict, maximum: int, default: int) -> tuple[list, str] | None:
    """One page of `items` by the body's limit/cursor, or None for a malformed cursor."""
    try:
        limit = int(body.get("limit") or default)
    except (TypeError, ValueError):
        limit = default
    if limit <= 0 or limit > maximum:
        limit = default  # WeCom: over the maximum -> the default
    cursor = body.get("cursor") or ""
    if cursor and (not isinstance(cursor, str) or not cursor[:1] == "c" or not cursor[1:].isdigit()):
        return None
    start = int(cursor[1:]) if cursor else 0
    end = start + limit
    return items[start:end], (f"c{end}" if end < len(items) else "")


class FakeWeCom(ContactBook):
    def __init__(self, corp_id="ww-test-corp", secret="test-secret", token_ttl=7200,
                 strict_friends=True):
        self.corp_id, self.secret, self.token_ttl = corp_id, secret, token_ttl
        self.strict_friends = strict_friends
        self.clock = time.time
        self.lock = threading.Lock()
        self.base_url = ""
        self.messages: list[dict] = []
        self.requests_log: list[dict] = []
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry; survives reset()
        self._msg_ids = itertools.count(1)
        self._media_ids = itertools.count(1)
        self._server = self._thread = None
        self.reset()

    # --- lifecycle -------------------------------------------------------------------
    def start(self, port: int = 0) -> "FakeWeCom":
        self._server = make_server("127.0.0.1", port, self, threaded=True, request_handler=_Quiet)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}{PREFIX}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="fake-wecom", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> "FakeWeCom":
        return self if self._server else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- test controls ---------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.requests_log.clear()
            self._faults: list[dict] = []
            self._friends: dict[str, set[str]] = {}
            self._results: dict[str, int] = {}
            self.media: dict[str, dict] = {}  # media id -> type, name, size, created_at
            self._reset_contacts()

    def friends(self, sender: str, external_userids: Iterable[str]) -> None:
        with self.lock:
            self._friends.setdefault(sender, set()).update(external_userids)

    def set_result(self, external_userid: str, status: int) -> None:
        with self.lock:
            self._results[external_userid] = status

    def fail_next(self, path: str, *, errcode: int | None = None, http_status: int | None = None,
                  delay: float = 0.0, times: int = 1, after_processing: bool = False) -> None:
        with self.lock:
            self._faults.append({"path": path, "errcode": errcode, "http_status": http_status,
                                 "delay": delay, "left": times, "after": after_processing})

    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens = dict.fromkeys(self._tokens, float("-inf"))

    def received(self, sender=None) -> list[tuple[str, str]]:
        """(sender, customer) for every delivered recipient (fail_list excluded), in order."""
        with self.lock:
            return [(m["sender"], c) for m in self.messages
                    if sender is None or m["sender"] == sender for c in m["delivered"]]

    # --- HTTP ------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        path, params = request.path, dict(request.args)
        if path.endswith("media/upload"):  # multipart: read the parts, not JSON
            upload = request.files.get("media")
            body = {"type": params.get("type"), "name": upload.filename if upload else None,
                    "data": upload.read() if upload else None}
        else:
            raw = request.get_data()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
        with self.lock:
            fault = next((f for f in self._faults if path.endswith(f["path"])), None)
            if fault:
                fault["left"] -= 1
                if fault["left"] <= 0:
                    self._faults.remove(fault)
        replaces = fault and (fault["errcode"] is not None or fault["http_status"] is not None)
        if fault and fault["after"]:  # processed and recorded; only the answer is lost/late
            status, payload = self._handle(path, params, body)
        if fault:
            time.sleep(fault["delay"])
        if replaces:
            status = fault["http_status"] or 200
            payload = ({"errcode": fault["errcode"], "errmsg": "injected fault"}
                       if fault["errcode"] is not None else f"{status} injected fault")
        elif not (fault and fault["after"]):
            status, payload = self._handle(path, params, body)
        with self.lock:
            self.requests_log.append({"path": path, "params": params, "body": body,
                                      "response": payload, "status": status, "at": time.time()})
        if isinstance(payload, dict):
            response = Response(json.dumps(payload, ensure_ascii=False), status,
                                content_type="application/json; charset=utf-8")
        else:
            response = Response(payload, status, content_type="text/plain; charset=utf-8")
        return response(environ, start_response)

    def _handle(self, path: str, params: dict, body) -> tuple[int, dict]:
        name = path[len(PREFIX):] if path.startswith(PREFIX) else None
        if name == "gettoken":
            return self._gettoken(params)
        handler = {"externalcontact/add_msg_template": self._add_msg_template,
                   "externalcontact/get_groupmsg_send_result": self._send_result,
                   "externalcontact/get_groupmsg_list_v2": self._list_v2,
                   "externalcontact/get_groupmsg_task": self._task,
                   "media/upload": self._media_upload,
                   **self.contact_handlers()}.get(name)
        if name == "externalcontact/get":  # a GET: its arguments are in the query
            body = {**(body or {}), **params}
        if handler is None:
            return 404, {"errcode": 404, "errmsg": f"not found: {path}"}
        with self.lock:  # handlers are quick: run each whole under the lock
            expiry = self._tokens.get(params.get("access_token", ""))
            if expiry is None:
                return _err(40014, "invalid access_token")
            if expiry <= time.monotonic():
                return _err(42001, "access_token expired")
            if not isinstance(body, dict):
                return _err(47001, "data format error: body is not a JSON object")
            return handler(body)

    def _gettoken(self, params: dict) -> tuple[int, dict]:
        if params.get("corpid") != self.corp_id or params.get("corpsecret") != self.secret:
            return _err(40001, "invalid credential")
        token = secrets.token_hex(16)
        with self.lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        return 200, {"errcode": 0, "errmsg": "ok", "access_token": token,
                     "expires_in": self.token_ttl}

    def _add_msg_template(self, body: dict) -> tuple[int, dict]:
        ids, sender = body.get("external_userid") or [], body.get("sender")
        text = (body.get("text") or {}).get("content")
        attachments = body.get("attachments") or []
        if body.get("chat_type", "single") != "single":
            return _err(40058, "invalid parameter: only chat_type single is faked")
        if not sender:
            return _err(40003, "invalid userid: sender is required")
        if not isinstance(ids, list) or not ids:
            return _err(40058, "invalid parameter: external_userid is empty")
        if len(ids) > MAX_IDS:
            return _err(40058, f"invalid parameter: more than {MAX_IDS} external_userid")
        if text and len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            return _err(45002, f"content size out of limit: text over {MAX_TEXT_BYTES} bytes")
        if len(attachments) > MAX_ATTACHMENTS:
            return _err(45008, f"too many attachments: at most {MAX_ATTACHMENTS}")
        if not text and not attachments:
            return _err(44004, "empty content: neither text nor attachments")
        for item in attachments:
            kind = item.get("msgtype") if isinstance(item, dict) else None
            part = item.get(kind) or {} if kind else {}
            media_id = part.get("pic_media_id") if kind == "miniprogram" else part.get("media_id")
            if kind == "miniprogram" and not media_id:
                return _err(40007, "invalid media_id: a miniprogram needs pic_media_id")
            if media_id is not None and not self._media_alive(media_id):
                return _err(40007, f"invalid media_id: {media_id}")
        # no friendship declared for this sender at all: everyone counts as a friend
        known = self._friends.get(sender) if self.strict_friends else None
        fail_list = [c for c in ids if known is not None and c not in known]
        msgid = f"msg{next(self._msg_ids)}"
        self.messages.append({
            "msgid": msgid, "sender": sender, "external_userid": list(ids), "text": text,
            "attachments": attachments, "create_time": int(self.clock()),
            "fail_list": fail_list, "delivered": [c for c in ids if c not in fail_list]})
        return 200, {"errcode": 0, "errmsg": "ok", "fail_list": fail_list, "msgid": msgid}

    def _media_upload(self, body: dict) -> tuple[int, dict]:
        kind, name, data = body.get("type"), body.get("name") or "", body.get("data")
        if kind not in MEDIA_LIMITS:
            return _err(40004, "invalid media type")
        if data is None:
            return _err(41005, "media data missing")
        if kind == "image" and name.rsplit(".", 1)[-1].lower() not in ("jpg", "jpeg", "png"):
            return _err(40005, "invalid file type: an image is JPG or PNG")
        if len(data) <= 5 or len(data) > MEDIA_LIMITS[kind]:
            return _err(40006, "invalid file size")
        media_id = f"media{next(self._media_ids)}-{secrets.token_hex(4)}"
        created = int(self.clock())
        self.media[media_id] = {"type": kind, "name": name, "size": len(data),
                                "created_at": created}
        return 200, {"errcode": 0, "errmsg": "ok", "type": kind, "media_id": media_id,
                     "created_at": str(created)}

    def _media_alive(self, media_id) -> bool:
        media = self.media.get(media_id)
        return media is not None and self.clock() - media["created_at"] < MEDIA_SECONDS

    def _find(self, msgid) -> dict | None:
        return next((m for m in self.messages if m["msgid"] == msgid), None)

    def _send_result(self, body: dict) -> tuple[int, dict]:
        message = self._find(body.get("msgid"))
        if message is None:
            return _err(41063, "invalid msgid")
        rows = []
        if body.get("userid") in (None, "", message["sender"]):  # only the sender's rows
            for c in message["external_userid"]:
                status = 2 if c in message["fail_list"] else self._results.get(c, 1)
                row = {"external_userid": c, "userid": message["sender"], "status": status}
                if status == 1:
                    row["send_time"] = message["create_time"]
                rows.append(row)
        page = _page(rows, body, 1000, 500)
        if page is None:
            return _err(40058, "invalid parameter: cursor")
        return 200, {"errcode": 0, "errmsg": "ok", "send_list": page[0], "next_cursor": page[1]}

    def _list_v2(self, body: dict) -> tuple[int, dict]:
        if body.get("chat_type", "single") != "single":
            return _err(40058, "invalid parameter: only chat_type single is faked")
        try:
            start, end = int(body["start_time"]), int(body["end_time"])
        except (KeyError, TypeError, ValueError):
            return _err(40058, "invalid parameter: start_time and end_time are required")
        creator = body.get("creator") or None
        rows = [{"msgid": m["msgid"], "creator": m["sender"], "create_type": 0,
                 "text": {"content": m["text"]}, "attachments": m["attachments"],
                 "create_time": m["create_time"]}
                for m in self.messages if start <= m["create_time"] <= end
                and creator in (None, m["sender"])]
        page = _page(rows, body, 100, 50)
        if page is None:
            return _err(40058, "invalid parameter: cursor")
        return 200, {"errcode": 0, "errmsg": "ok", "group_msg_list": page[0],
                     "next_cursor": page[1]}

    def _task(self, body: dict) -> tuple[int, dict]:
        message = self._find(body.get("msgid"))
        if message is None:
            return _err(41063, "invalid msgid")
        rows = [{"userid": message["sender"], "status": 2, "send_time": message["create_time"]}]
        page = _page(rows, body, 1000, 500)
        if page is None:
            return _err(40058, "invalid parameter: cursor")
        return 200, {"errcode": 0, "errmsg": "ok", "task_list": page[0], "next_cursor": page[1]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake WeCom API until killed.")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--corp-id", default="ww-test-corp")
    parser.add_argument("--secret", default="test-secret")
    parser.add_argument("--token-ttl", type=int, default=7200)
    args = parser.parse_args(argv)
    fake = FakeWeCom(args.corp_id, args.secret, args.token_ttl, strict_friends=False)
    fake.start(args.port)
    print(fake.base_url, flush=True)
    try:
        fake._thread.join()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
