"""The pure part of the WeCom integration (jobs/core/wecom_events.py): reading a
decrypted callback, naming its change, reading externalcontact/get, diffing tags."""
from __future__ import annotations

import pytest

from jobs.core import wecom_events as W

ADD = ("<xml><ToUserName><![CDATA[ww1]]></ToUserName><CreateTime>1740790800</CreateTime>"
       "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>"
       "<ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID>zhangsan</UserID>"
       "<ExternalUserID>wm1</ExternalUserID><State>渠道活码</State>"
       "<WelcomeCode>code1</WelcomeCode></xml>")


def test_a_callback_is_read_and_named_by_its_change():
    cb = W.parse_message(ADD)
    assert (cb.to_user, cb.create_time, cb.change_type, cb.userid, cb.external_userid,
            cb.welcome_code, cb.state) == ("ww1", 1740790800, "add_external_contact",
                                           "zhangsan", "wm1", "code1", "渠道活码")
    assert W.event_key(cb) == "wecom:add_external_contact:wm1:zhangsan:1740790800"
    long = W.Callback("ww1", 1, W.CONTACT_EVENT, "edit_external_contact", "u" * 64, "x" * 64)
    assert len(W.event_key(long)) <= W.MAX_KEY and W.event_key(long) != W.event_key(
        W.Callback("ww1", 2, W.CONTACT_EVENT, "edit_external_contact", "u" * 64, "x" * 64))
    assert len(W.derived_key(W.event_key(long), "profile")) <= W.MAX_KEY


@pytest.mark.parametrize("xml", ["not xml", "<xml><MsgType>text</MsgType><CreateTime>1"
                                 "</CreateTime></xml>", "<xml><MsgType>event</MsgType>"
                                 "<Event>x</Event><CreateTime>soon</CreateTime></xml>"])
def test_what_is_not_an_event_message_is_refused(xml):
    with pytest.raises(W.MessageInvalid):
        W.parse_message(xml)


def test_contact_details_become_profile_fields_and_corp_tags():
    answer = {"external_contact": {"external_userid": "wm1", "name": "Wang", "type": 2},
              "follow_user": [
                  {"userid": "lisi", "remark": "other", "tags": []},
                  {"userid": "zhangsan", "remark": "", "add_way": 1, "state": "",
                   "remark_mobiles": ["13800000000"],
                   "tags": [{"tag_id": "et1", "tag_name": "VIP", "group_name": "等级", "type": 1},
                            {"tag_id": "et2", "tag_name": "mine", "type": 2}]}]}
    profile = W.contact_profile(answer, "zhangsan")
    assert profile.fields == {"name": "Wang", "customer_type": "enterprise",
                              "source": "扫描二维码", "phone": "13800000000"}
    assert profile.tags == (W.WeComTag("et1", "VIP", "等级"),)  # personal tags are not corp tags


def test_the_tag_diff_leaves_write_backs_on_their_way_alone():
    assert W.tag_diff({"A", "B"}, {"B", "C", "D"}, pending_add={"D"}, pending_remove=set()) == (
        ["A"], ["C"])
    assert W.tag_diff({"A"}, set(), pending_add=set(), pending_remove={"A"}) == ([], [])
