"""Privacy: take personal data out of a letter before it is exported, logged or shown.

What goes (each replaced by a bracketed tag, so the text still reads):

- names after 我叫 / 本人 / 姓名 / 申请人 / 来电人 / 联系人 / 委托人 … (a common surname and one
  or two more characters) → ``[姓名]``
- ID numbers (18 characters, also partly masked ones) → ``[身份证号]``
- bank card numbers → ``[银行卡号]``
- mobile and landline numbers → ``[电话]``
- the address below village level: 组/队, house and building numbers, units, rooms
  (``三组``, ``18号``, ``5栋2单元301室``) → ``[地址]``

The number shapes are the ``entities`` regexes of corpus/rules.yaml, the same ones the
extractor uses; the surname list and the name cues are below.
"""

from __future__ import annotations

import re
from functools import lru_cache

from triage.rules import Rules, load_rules

# the most common Chinese surnames (more than nine in ten people carry one of them)
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
            "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷"
            "侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄"
            "聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛"
            "曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦"
            "麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣"
            "巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
NAME_CUES = ("我叫", "本人叫", "本人", "姓名", "申请人", "来电人", "联系人", "委托人", "反映人",
             "举报人", "签名", "落款", "具名")
_TAGS = {"ID_NUMBER": "[身份证号]", "BANK_CARD": "[银行卡号]", "PHONE": "[电话]"}
_NUM = r"[\d一二三四五六七八九十两〇零百]+"
ADDRESS = re.compile(
    rf"(?:{_NUM}(?:组|队)(?!织|长|成|合|委|员|件|团))?"
    rf"(?:{_NUM}(?:号楼|号院|栋|幢|单元|室|号|弄|排|楼)(?:之{_NUM})?)+"
    rf"|{_NUM}(?:组|队)(?!织|长|成|合|委|员|件|团|的同志)")


@lru_cache(maxsize=4)
def _name_pattern() -> re.Pattern[str]:
    cues = "|".join(sorted(map(re.escape, NAME_CUES), key=len, reverse=True))
    # a cue, optional 是/为/：, then surname + one or two characters that are not a word
    # boundary (punctuation, digits) and not the start of a verb phrase (多次, 于, 在 …)
    return re.compile(rf"(?:{cues})[是为叫：:\s]*(?P<name>[{SURNAMES}][\u4e00-\u9fff]{{1,2}}?)"
                      r"(?=[，。,、；;：:\s（(]|$|女|男|[，,]?\d|今年|现年|住|家住|系|，|身份证|电话|"
                      r"联系|手机|\d{2,4}年)")


def redact(text: str, rules: Rules | None = None) -> str:
    """The text with names, ID numbers, bank cards, phones and house-level addresses replaced.

    >>> redact("我叫王小明，住青禾县柳林镇石桥村三组18号，电话138****0000")
    '我叫[姓名]，住青禾县柳林镇石桥村[地址]，电话[电话]'
    """
    if not text:
        return text
    rules = rules or load_rules()
    out = text
    for label in ("ID_NUMBER", "BANK_CARD", "PHONE"):
        rx = rules.entities.get(label)
        if rx is not None:
            out = rx.sub(_TAGS[label], out)
    out = _name_pattern().sub(lambda m: m.group(0)[: m.start("name") - m.start(0)] + "[姓名]",
                              out)
    out = ADDRESS.sub("[地址]", out)
    return out
