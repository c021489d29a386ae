"""WeCom callbacks and contact details in, the product's events out (SPEC §9). Pure.

`parse_message` reads a decrypted callback; `event_key` names the change it reports
(the same for every WeCom retry of it); `contact_profile` turns an
`externalcontact/get` answer into customer fields and corp tags; `tag_diff` says
which WeCom tags a customer gained or lost since the product last looked.
"""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass

CONTACT_EVENT = "change_external_contact"
TAG_EVENT = "change_external_tag"
ADDED, EDITED = "add_external_contact", "edit_external_contact"
LOST = ("del_external_contact", "del_follow_user")
TRANSFER_FAIL = "transfer_fail"
HANDLED = (ADDED, EDITED, *LOST, TRANSFER_FAIL)
MAX_KEY = 100  # ProcessedEvent.event_id / WeComCallback.event_key

# externalcontact/get follow_user.add_way (WeCom's documented values), used as the
# customer's source when the contact way carried no `state`.
ADD_WAYS = {
    0: "未知来源", 1: "扫描二维码", 2: "搜索手机号", 3: "名片分享", 4: "群聊",
    5: "手机通讯录", 6: "微信联系人", 8: "第三方应用", 9: "搜索邮箱", 10: "视频号",
    11: "日程参与人", 12: "会议参与人", 13: "微信好友", 14: "智慧硬件", 15: "上门服务",
    16: "客户验证", 201: "内部成员共享", 202: "管理员/负责人分配",
}
CORP_TAG = 1  # follow_user.tags[].type: 1 corp tag, 2 personal tag, 3 rule tag


class MessageInvalid(ValueError):
    """The decrypted text is not a callback message we can read."""


@dataclass(frozen=True)
class Callback:
    to_user: str  # the corp id
    create_time: int
    event: str
    change_type: str | None = None
    userid: str | None = None
    external_userid: str | None = None
    welcome_code: str | None = None
    state: str | None = None
    fail_reason: str | None = None
    tag_id: str | None = None
    tag_type: str | None = None


def parse_message(xml: str) -> Callback:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise MessageInvalid(f"not XML: {exc}") from None
    fields = {child.tag: (child.text or "").strip() for child in root}

    def get(name):
        return fields.get(name) or None

    try:
        create_time = int(fields.get("CreateTime", ""))
    except ValueError:
        raise MessageInvalid("CreateTime is not a number") from None
    if fields.get("MsgType") != "event" or not get("Event"):
        raise MessageInvalid("not an event message")
    return Callback(
        to_user=fields.get("ToUserName", ""), create_time=create_time, event=fields["Event"],
        change_type=get("ChangeType"), userid=get("UserID"),
        external_userid=get("ExternalUserID"), welcome_code=get("WelcomeCode"),
        state=get("State"), fail_reason=get("FailReason"), tag_id=get("Id"),
        tag_type=get("TagType"))


def event_key(cb: Callback) -> str:
    """`wecom:<ChangeType>:<ExternalUserID>:<UserID>:<CreateTime>` (a tag change names its
    tag id instead); a digest when that would not fit in MAX_KEY characters."""
    if cb.event == TAG_EVENT:
        parts = [cb.change_type or "", cb.tag_type or "", cb.tag_id or ""]
    else:
        parts = [cb.change_type or cb.event, cb.external_userid or "", cb.userid or ""]
    return _fit(":".join(["wecom", *parts, str(cb.create_time)]), parts[0])


def derived_key(key: str, suffix: str) -> str:
    """The id of one of the events a callback's details become."""
    return _fit(f"{key}:{suffix}", suffix)


def _fit(key: str, label: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return f"wecom:{label[:40]}:" + hashlib.sha1(key.encode()).hexdigest()


@dataclass(frozen=True)
class WeComTag:
    wecom_id: str
    name: str
    group: str | None


@dataclass(frozen=True)
class Profile:
    fields: dict  # name, customer_type, source, phone: ready for customer_updated
    tags: tuple[WeComTag, ...]  # the corp tags the following employee has set


def follow_entry(answer: dict, userid: str | None) -> dict:
    """The follow_user entry of this employee (else the first one, else empty)."""
    entries = answer.get("follow_user") or []
    return next((f for f in entries if f.get("userid") == userid), entries[0] if entries else {})


def contact_profile(answer: dict, userid: str | None) -> Profile:
    contact = answer.get("external_contact") or {}
    follow = follow_entry(answer, userid)
    fields = {"name": ((follow.get("remark") or contact.get("name") or "").strip()
                       or contact.get("external_userid"))[:200],
              "customer_type": "enterprise" if contact.get("type") == 2 else "individual"}
    source = (follow.get("state") or "").strip() or ADD_WAYS.get(follow.get("add_way"))
    if source:
        fields["source"] = source[:100]
    mobiles = [m for m in follow.get("remark_mobiles") or () if m]
    if mobiles:
        fields["phone"] = str(mobiles[0])[:40]
    tags = tuple(WeComTag(str(t["tag_id"]), t["tag_name"].strip()[:100], t.get("group_name"))
                 for t in follow.get("tags") or ()
                 if t.get("type", CORP_TAG) == CORP_TAG and t.get("tag_id") and t.get("tag_name"))
    return Profile(fields=fields, tags=tags)


def tag_diff(in_wecom: set[str], in_product: set[str], pending_add: set[str],
             pending_remove: set[str]) -> tuple[list[str], list[str]]:
    """(added, removed) tag names: `in_product` holds only the customer's tags that are
    WeCom corp tags; a write-back still on its way to WeCom is not undone."""
    added = sorted(in_wecom - in_product - pending_remove)
    removed = sorted(in_product - in_wecom - pending_add)
    return added, removed


def corp_tags(groups: list[dict]) -> list[WeComTag]:
    """get_corp_tag_list's tag_group list, flattened."""
    return [WeComTag(str(t["id"]), t["name"].strip()[:100], g.get("group_name"))
            for g in groups for t in g.get("tag") or () if t.get("id") and t.get("name")
            and not t.get("deleted")]
