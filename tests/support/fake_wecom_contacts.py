"""The fake WeCom's contact book, corp tags and callbacks (mixed into FakeWeCom).

Endpoints (under /cgi-bin/, same token checks as the rest of the fake):
  GET  externalcontact/get?external_userid=   -> external_contact, follow_user
  POST externalcontact/mark_tag               userid, external_userid, add_tag, remove_tag
  POST externalcontact/send_welcome_msg       welcome_code, text: once, within 20 s
  POST externalcontact/get_corp_tag_list      -> tag_group (every group and tag)
  POST externalcontact/add_corp_tag           group_name, tag: [{name}] -> tag_group
Error codes (* = chosen by the fake):
  84061 not external contact      unknown external_userid, or not followed by userid
  40068 invalid tagid             mark_tag with a tag id not in the catalogue
  41096 * invalid welcome_code    unknown, already used, or older than 20 s (by `clock`)
  40058 invalid parameter         a required field missing

Callbacks: the contact-book methods (`add_contact`, `edit_tags`, ...) change the book
and return the decrypted XML WeCom would send; `signed(xml)` encrypts and signs it
with `callback_token`/`aes_key` (wechatpy's WeChatCrypto, the documented AES-CBC
scheme) and returns (query params, body) for a POST; `url_check(echostr)` does the
same for the GET verification. CreateTime comes from `clock`, the signature's
timestamp from the wall clock (the product checks it against its own).
"""
from __future__ import annotations

import copy
import itertools
import secrets
import time

from wechatpy.enterprise.crypto import WeChatCrypto

WELCOME_WINDOW = 20  # seconds a welcome code is valid
DEFAULT_GROUP = "客户标签"


def _err(code: int, msg: str) -> tuple[int, dict]:
    return 200, {"errcode": code, "errmsg": msg}


def _ok(**fields) -> tuple[int, dict]:
    return 200, {"errcode": 0, "errmsg": "ok", **fields}


class ContactBook:
    callback_token = "fake-callback-token"
    aes_key = "FakeWeComEncodingAESKey0123456789abcdefghij"  # 43 characters

    def _reset_contacts(self) -> None:
        self.contacts: dict[str, dict] = {}  # external_userid -> {external_contact, follow_user}
        self.tag_groups: list[dict] = []
        self.welcomes: list[dict] = []  # every send_welcome_msg accepted
        self.mark_tag_log: list[dict] = []  # every mark_tag accepted
        self._welcome_codes: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def contact_handlers(self) -> dict:
        return {"externalcontact/get": self._get_contact,
                "externalcontact/mark_tag": self._mark_tag,
                "externalcontact/send_welcome_msg": self._send_welcome,
                "externalcontact/get_corp_tag_list": self._corp_tag_list,
                "externalcontact/add_corp_tag": self._add_corp_tag}

    # --- the corp tag catalogue --------------------------------------------------------
    def corp_tag(self, name: str, group: str = DEFAULT_GROUP) -> str:
        """The id of this corp tag, created when missing."""
        with self.lock:
            return self._tag(name, group)["id"]

    def _tag(self, name: str, group: str) -> dict:
        found = self._group(group)
        for tag in found["tag"]:
            if tag["name"] == name:
                return tag
        tag = {"id": f"et{next(self._ids):06d}", "name": name,
               "create_time": int(self.clock()), "order": len(found["tag"])}
        found["tag"].append(tag)
        return tag

    def _group(self, name: str) -> dict:
        for group in self.tag_groups:
            if group["group_name"] == name:
                return group
        group = {"group_id": f"eg{next(self._ids):06d}", "group_name": name,
                 "create_time": int(self.clock()), "order": len(self.tag_groups), "tag": []}
        self.tag_groups.append(group)
        return group

    def _tag_by_id(self, tag_id: str) -> tuple[dict, dict] | None:
        return next(((g, t) for g in self.tag_groups for t in g["tag"] if t["id"] == tag_id), None)

    def tag_names(self, external_userid: str, userid: str) -> list[str]:
        with self.lock:
            return [t["tag_name"] for t in self._follow(external_userid, userid)["tags"]]

    # --- the contact book; each method returns the callback's XML ----------------------
    def add_contact(self, external_userid: str, userid: str, name: str | None = None,
                    tags=(), state: str | None = None, remark: str = "", type: int = 1,
                    add_way: int = 1, welcome: bool = True) -> str:
        with self.lock:
            contact = self.contacts.setdefault(external_userid, {
                "external_contact": {"external_userid": external_userid,
                                     "name": name or external_userid, "type": type,
                                     "gender": 0, "avatar": ""},
                "follow_user": []})
            contact["follow_user"] = [f for f in contact["follow_user"] if f["userid"] != userid]
            contact["follow_user"].append({
                "userid": userid, "remark": remark, "description": "",
                "createtime": int(self.clock()), "add_way": add_way, "state": state or "",
                "tags": [self._follow_tag(n) for n in tags]})
            extra = {"State": state} if state else {}
            if welcome:
                code = secrets.token_hex(8)
                self._welcome_codes[code] = {"issued": self.clock(), "used": False,
                                             "external_userid": external_userid}
                extra["WelcomeCode"] = code
        return self.contact_xml("add_external_contact", external_userid, userid, **extra)

    def _follow_tag(self, name: str) -> dict:
        tag = self._tag(name, DEFAULT_GROUP)
        return {"group_name": DEFAULT_GROUP, "tag_name": name, "tag_id": tag["id"], "type": 1}

    def _follow(self, external_userid: str, userid: str) -> dict:
        return next(f for f in self.contacts[external_userid]["follow_user"]
                    if f["userid"] == userid)

    def edit_tags(self, external_userid: str, userid: str, add=(), remove=()) -> str:
        with self.lock:
            follow = self._follow(external_userid, userid)
            follow["tags"] = [t for t in follow["tags"] if t["tag_name"] not in remove]
            have = {t["tag_name"] for t in follow["tags"]}
            follow["tags"] += [self._follow_tag(n) for n in add if n not in have]
        return self.contact_xml("edit_external_contact", external_userid, userid)

    def delete_contact(self, external_userid: str, userid: str, by_customer: bool = True) -> str:
        """The customer deleted the employee (del_follow_user) or the other way round."""
        with self.lock:
            contact = self.contacts.get(external_userid)
            if contact:
                contact["follow_user"] = [f for f in contact["follow_user"]
                                          if f["userid"] != userid]
        change = "del_follow_user" if by_customer else "del_external_contact"
        return self.contact_xml(change, external_userid, userid)

    def contact_xml(self, change_type: str, external_userid: str, userid: str, **extra) -> str:
        fields = {"ToUserName": self.corp_id, "FromUserName": "sys",
                  "CreateTime": str(int(self.clock())), "MsgType": "event",
                  "Event": "change_external_contact", "ChangeType": change_type,
                  "UserID": userid, "ExternalUserID": external_userid, **extra}
        return _xml(fields)

    def tag_xml(self, tag_id: str, change_type: str = "create", tag_type: str = "tag") -> str:
        return _xml({"ToUserName": self.corp_id, "FromUserName": "sys",
                     "CreateTime": str(int(self.clock())), "MsgType": "event",
                     "Event": "change_external_tag", "Id": tag_id, "TagType": tag_type,
                     "ChangeType": change_type})

    # --- signing --------------------------------------------------------------------------
    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.callback_token, self.aes_key, self.corp_id)

    def signed(self, xml: str, timestamp: int | None = None,
               nonce: str | None = None) -> tuple[dict, str]:
        """(query params, body) of the POST WeCom would make for this message."""
        import xmltodict

        nonce = nonce or secrets.token_hex(8)
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        body = self.crypto().encrypt_message(xml, nonce, timestamp)
        envelope = xmltodict.parse(body)["xml"]
        return ({"msg_signature": envelope["MsgSignature"], "timestamp": timestamp,
                 "nonce": nonce}, body)

    def url_check(self, echostr: str = "hello wecom") -> dict:
        """The query params of WeCom's URL verification (GET) for `echostr`."""
        from wechatpy.crypto import _get_signature
        from wechatpy.enterprise.crypto import PrpCrypto

        nonce, timestamp = secrets.token_hex(8), str(int(time.time()))
        encrypted = PrpCrypto(self.crypto().key).encrypt(echostr, self.corp_id).decode()
        return {"msg_signature": _get_signature(self.callback_token, timestamp, nonce, encrypted),
                "timestamp": timestamp, "nonce": nonce, "echostr": encrypted}

    # --- handlers (run under self.lock) ---------------------------------------------------
    def _get_contact(self, body: dict) -> tuple[int, dict]:
        contact = self.contacts.get(body.get("external_userid") or "")
        if contact is None or not contact["follow_user"]:
            return _err(84061, "not external contact")
        return _ok(**copy.deepcopy(contact), next_cursor="")

    def _mark_tag(self, body: dict) -> tuple[int, dict]:
        userid, external = body.get("userid"), body.get("external_userid")
        add, remove = body.get("add_tag") or [], body.get("remove_tag") or []
        if not userid or not external or not (add or remove):
            return _err(40058, "invalid parameter: userid, external_userid and a tag")
        contact = self.contacts.get(external)
        follow = next((f for f in (contact or {}).get("follow_user", ())
                       if f["userid"] == userid), None)
        if follow is None:
            return _err(84061, "not external contact")
        found = {i: self._tag_by_id(i) for i in [*add, *remove]}
        if None in found.values():
            return _err(40068, "invalid tagid")
        follow["tags"] = [t for t in follow["tags"] if t["tag_id"] not in remove]
        have = {t["tag_id"] for t in follow["tags"]}
        follow["tags"] += [{"group_name": found[i][0]["group_name"], "tag_name": found[i][1]["name"],
                            "tag_id": i, "type": 1} for i in add if i not in have]
        self.mark_tag_log.append({"userid": userid, "external_userid": external,
                                  "add_tag": list(add), "remove_tag": list(remove)})
        return _ok()

    def _send_welcome(self, body: dict) -> tuple[int, dict]:
        code = self._welcome_codes.get(body.get("welcome_code") or "")
        if code is None or code["used"] or self.clock() - code["issued"] > WELCOME_WINDOW:
            return _err(41096, "invalid welcome_code")
        code["used"] = True
        self.welcomes.append({"welcome_code": body["welcome_code"],
                              "external_userid": code["external_userid"],
                              "text": (body.get("text") or {}).get("content")})
        return _ok()

    def _corp_tag_list(self, body: dict) -> tuple[int, dict]:
        return _ok(tag_group=copy.deepcopy(self.tag_groups))

    def _add_corp_tag(self, body: dict) -> tuple[int, dict]:
        names = [t.get("name") for t in body.get("tag") or ()]
        if not names or not all(names):
            return _err(40058, "invalid parameter: tag names")
        group = self._group(body.get("group_name") or DEFAULT_GROUP)
        tags = [self._tag(n, group["group_name"]) for n in names]
        return _ok(tag_group={"group_id": group["group_id"], "group_name": group["group_name"],
                              "tag": copy.deepcopy(tags)})


def _xml(fields: dict) -> str:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return f"<xml>{inner}</xml>"
