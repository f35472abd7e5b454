"""Redaction: every shape of personal data goes, the rest of the letter stays readable."""

from __future__ import annotations

import pytest

from triage.redact import redact

CASES = [
    # names after the usual cues
    ("我叫王小明，今年五十岁。", "我叫[姓名]，今年五十岁。"),
    ("本人李秀英，女，1958年生。", "本人[姓名]，女，1958年生。"),
    ("姓名：欧阳建，男", "姓名：[姓名]，男"),  # 欧 is the surname, 阳建 the rest
    ("申请人刘建国，住青禾县。", "申请人[姓名]，住青禾县。"),
    ("联系人：张某某 电话", "联系人：[姓名] 电话"),
    # ID numbers: full, with X, masked
    ("身份证号430102199001011234。", "身份证号[身份证号]。"),
    ("身份证：43010219900101123X", "身份证：[身份证号]"),
    ("身份证号 4301**********1234", "身份证号 [身份证号]"),
    # phones: mobile, masked, spaced, landline
    ("电话13812345678", "电话[电话]"),
    ("电话138****0000", "电话[电话]"),
    ("手机 139 1234 5678 白天打", "手机 [电话] 白天打"),
    ("座机0731-88886666", "座机[电话]"),
    # bank cards: plain, grouped, masked
    ("工资卡6222021234567890123被扣", "工资卡[银行卡号]被扣"),
    ("卡号6222 0200 1234 5678 901", "卡号[银行卡号]"),
    ("卡号6217********1234", "卡号[银行卡号]"),
    # addresses below village level
    ("住青禾县柳林镇石桥村三组18号", "住青禾县柳林镇石桥村[地址]"),
    ("住金桂花园小区5栋2单元301室", "住金桂花园小区[地址]"),
    ("家住幸福里12号楼", "家住幸福里[地址]"),
]

KEPT = [
    "本人多次反映，没有结果。",           # 本人 + a verb, not a name
    "我们组织了十几个村民。",              # 组织 is not a 组
    "村民小组长说不归他管。",
    "2023年3月5日被征收了三亩地，补偿款12万元。",  # dates and money are not personal data
    "我是王家村的村民。",                  # no cue: a place, not a name
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_redacts_every_pii_shape(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_leaves_other_text_alone(text: str) -> None:
    assert redact(text) == text


def test_empty_text() -> None:
    assert redact("") == ""
