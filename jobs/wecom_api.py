"""The WeCom calls of the integration (SPEC §9), on the channel's client and error mapping.

Errors are the channel's: `NotSent` (certainly not done; also "not configured"),
`OutcomeUnknown` (no answer), `Rejected` (an error answer), `TokenUnavailable`.
"""
from __future__ import annotations

from jobs.channels.wecom import Client, call, make_client
from jobs.core.wecom_events import corp_tags

WELCOME_TIMEOUT = 2.0  # seconds per call: the callback answers WeCom within its 5 s
AUTO_TAG_GROUP = "SOP自动标签"  # group of the corp tags the product creates


class WeComApi:
    def __init__(self, client: Client):
        self.client = client

    @classmethod
    def from_app(cls, app, timeout: float | None = None) -> WeComApi:
        return cls(make_client(app, timeout))

    def gettoken(self) -> dict:
        """A fresh access token (the settings screen's connection test)."""
        return self.client.fetch_access_token()

    def contact(self, external_userid: str) -> dict:
        """externalcontact/get: external_contact and follow_user."""
        return call(self.client, "externalcontact/get",
                    params={"external_userid": external_userid})

    def send_welcome(self, welcome_code: str, text: str) -> None:
        call(self.client, "externalcontact/send_welcome_msg",
             {"welcome_code": welcome_code, "text": {"content": text}})

    def mark_tag(self, userid: str, external_userid: str, add=(), remove=()) -> None:
        call(self.client, "externalcontact/mark_tag", {
            "userid": userid, "external_userid": external_userid,
            "add_tag": list(add), "remove_tag": list(remove)})

    def corp_tags(self):
        answer = call(self.client, "externalcontact/get_corp_tag_list", {})
        return corp_tags(answer.get("tag_group") or [])

    def add_corp_tag(self, name: str, group: str | None) -> str:
        """Create a corp tag (in `group`, else the product's own group); its id."""
        answer = call(self.client, "externalcontact/add_corp_tag", {
            "group_name": group or AUTO_TAG_GROUP, "tag": [{"name": name}]})
        return str(answer["tag_group"]["tag"][0]["id"])
