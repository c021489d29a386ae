"""The `wecom` channel: one `externalcontact/add_msg_template` per batch (SPEC §5).

Built on wechatpy's enterprise client, pointed at the configured base URL, with
the access token cached in Redis until it expires (its RedisStorage). The token
is refreshed once on 40014/42001; 45009 (rate limit) is `NotSent` and retried with
backoff; timeouts and 5xx are `OutcomeUnknown`: the next try first looks for the
message in `get_groupmsg_list_v2` (same sender and text, sent to exactly these
customers) and adopts its msgid rather than sending again. Image, file and
mini-program attachments go as media ids (jobs/wecom_media.py); a 40007 (unknown media
id) uploads them again and retries once.
"""
from __future__ import annotations

import time

import requests
from wechatpy.enterprise import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from jobs import metrics
from jobs.channels import Content, NotSent, Outcome, OutcomeUnknown, Rejected
from jobs.wecom_media import MediaCache, attachment
from models import Settings, db

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
TIMEOUT = 10  # seconds per call
TOKEN_ERRORS = (40014, 42001)  # invalid / expired access token
RATE_LIMITED = 45009
INVALID_MEDIA = 40007  # an unknown or lapsed media id
LOOK_BACK_DAYS = 3  # how far back a lost answer's message is looked for
PAGE = 1000


class TokenUnavailable(NotSent):
    """gettoken failed: no message call was made."""


class Client(WeChatClient):
    """wechatpy's enterprise client, with `gettoken` at the configured base URL (wechatpy
    hardcodes the real host there) and under the same timeout as every other call."""

    def fetch_access_token(self):
        try:
            answer = self._http.get(self.API_BASE_URL + "gettoken", timeout=self.timeout,
                                    params={"corpid": self.corp_id, "corpsecret": self.secret})
            answer.raise_for_status()
            result = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise TokenUnavailable(f"WeCom gettoken: {exc.__class__.__name__}") from exc
        if result.get("errcode"):
            metrics.count_wecom_error(result["errcode"])
            raise TokenUnavailable(f"WeCom gettoken {result['errcode']}: {result.get('errmsg')}")
        # cached in Redis a minute short of WeCom's expiry, shared by every worker
        ttl = max(int(result.get("expires_in", 7200)) - 60, 1)
        self.session.set(self.access_token_key, result["access_token"], ttl)
        self.expires_at = None  # trust the cache's own expiry
        return result


def make_client(app, timeout: float | None = None) -> Client:
    """A client for the configured corp (`timeout` seconds per call, default TIMEOUT);
    NotSent when WeCom is not configured."""
    from jobs.queues import redis_connection

    settings = db.session.get(Settings, 1)
    if settings is None or not settings.wecom_corp_id or not settings.wecom_secret:
        raise NotSent("WeCom corp id and secret are not configured")
    client = Client(settings.wecom_corp_id, settings.wecom_secret,
                    session=RedisStorage(redis_connection(app), prefix="sop-wecom"),
                    timeout=timeout or TIMEOUT, auto_retry=False)
    client.API_BASE_URL = settings.wecom_api_base_url or DEFAULT_BASE_URL
    return client


def call(client: Client, endpoint: str, data: dict | None = None,
         params: dict | None = None, files: dict | None = None) -> dict:
    """POST `data` (GET when there is none) with the error mapping of the module
    docstring; the access token is refreshed once when WeCom refuses it."""
    for attempt in (1, 2):
        try:
            if files is not None:  # multipart (media/upload)
                return client.post(endpoint, params=dict(params or {}), files=files)
            if data is None:
                return client.get(endpoint, params=dict(params or {}))
            return client.post(endpoint, data=data)
        except WeChatClientException as exc:
            code = exc.errcode
            metrics.count_wecom_error(code)
            if code in TOKEN_ERRORS and attempt == 1:
                client.session.delete(client.access_token_key)
                client.fetch_access_token()
                continue
            if code == RATE_LIMITED:
                raise NotSent(f"WeCom {code}: rate limited") from exc
            if code is None:  # an HTTP error (5xx): the call may have gone through
                raise OutcomeUnknown(f"WeCom: {exc.errmsg}") from exc
            raise Rejected(f"WeCom {code}: {exc.errmsg}") from exc
        except requests.Timeout as exc:
            raise OutcomeUnknown("WeCom: timed out") from exc
        except requests.RequestException as exc:
            raise OutcomeUnknown(f"WeCom: {exc.__class__.__name__}") from exc
    raise NotSent("WeCom: the access token was refused twice")


class WeComChannel:
    name = "wecom"

    def __init__(self, client: Client, upload_folder: str | None = None):
        self.client = client
        self.media = MediaCache(self.upload, upload_folder)

    @classmethod
    def from_app(cls, app):
        return cls(make_client(app), app.config.get("UPLOAD_FOLDER"))

    def _post(self, endpoint: str, data: dict) -> dict:
        return call(self.client, endpoint, data)

    def upload(self, media: str, name: str, data: bytes) -> str:
        """media/upload (multipart, field `media`): the new media id."""
        return call(self.client, "media/upload", params={"type": media},
                    files={"media": (name, data)})["media_id"]

    def deliver(self, session, batch, recipients, content: Content, now) -> Outcome:
        try:
            answer = self._send(session, batch, recipients, content, now, renew=False)
        except Rejected as exc:
            if f"WeCom {INVALID_MEDIA}:" not in str(exc):
                raise
            # WeCom no longer knows a cached media id (its clock ran ahead of ours):
            # upload the files again, once, before giving up
            answer = self._send(session, batch, recipients, content, now, renew=True)
        return Outcome(ref=answer["msgid"], failed={
            userid: "WeCom: not a friend of the sender" for userid in answer.get("fail_list", ())})

    def _send(self, session, batch, recipients, content: Content, now, renew: bool) -> dict:
        attachments = [attachment(m, self.media.media_id(session, m, now, renew))
                       for m in content.attachments]
        return self._post("externalcontact/add_msg_template", {
            "chat_type": "single", "sender": batch.sender.userid,
            "external_userid": [r.external_id for r in recipients],
            "text": {"content": content.text}, "attachments": attachments})

    def find_previous(self, session, batch, recipients, content: Content):
        # WeCom stamps messages with its own clock: search the last days of wall time
        # (the engine's `now` may be a replay), narrowed to this sender, text and recipients
        until = int(time.time()) + 60
        wanted = {r.external_id for r in recipients}
        for msg in self._pages("externalcontact/get_groupmsg_list_v2", "group_msg_list", {
                "chat_type": "single", "creator": batch.sender.userid, "filter_type": 2,
                "start_time": until - LOOK_BACK_DAYS * 86400, "end_time": until, "limit": 100}):
            if (msg.get("text") or {}).get("content", "") != content.text:
                continue
            results = self.results(msg["msgid"], batch.sender.userid)
            if {r["external_userid"] for r in results} == wanted:
                return Outcome(ref=msg["msgid"], failed={
                    r["external_userid"]: "WeCom: not a friend of the sender"
                    for r in results if r.get("status") == 2})
        return None

    def results(self, msgid: str, sender: str) -> list[dict]:
        """get_groupmsg_send_result, every page: external_userid, status, send_time."""
        return list(self._pages("externalcontact/get_groupmsg_send_result", "send_list",
                                {"msgid": msgid, "userid": sender, "limit": PAGE}))

    def _pages(self, endpoint: str, key: str, data: dict):
        cursor = ""
        while True:
            answer = self._post(endpoint, {**data, "cursor": cursor})
            yield from answer.get(key) or ()
            cursor = answer.get("next_cursor") or ""
            if not cursor:
                return
