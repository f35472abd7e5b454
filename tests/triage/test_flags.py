"""Every flag rule, table-driven: texts that must raise it and texts that must not."""

from __future__ import annotations

import pytest

from triage.extract import people_counter
from triage.flags import choose_thresholds, detect, rule_hit, sentences
from triage.rules import load_rules

RULES = load_rules()
COUNT = people_counter(RULES)

RAISES = [
    ("danger", "再不给钱，我就拿瓶农药到镇政府门口喝了。", "农药"),
    ("danger", "有人扬言晚上去把厂里的机器砸了、工棚烧了。", "扬言"),
    ("danger", "一名男子手持菜刀追赶居民。", "手持菜刀"),
    ("danger", "我天天想的就是揣把刀去他家门口等他。", "揣把刀"),
    ("danger", "真想一头扎下去算了，是想到两个娃才回的家。", "一头扎下去"),
    ("danger", "有时候想，还不如跟着我男人去了算了。", "去了算了"),
    ("danger", "明天就把我弟弟抬到医院大厅去。", "抬到医院"),
    ("danger", "有人说去把省道口堵了让上面看见。", "省道口堵"),
    ("danger", "这个礼拜不解决，我就从县政府楼上跳下去。", "跳下去"),
    ("danger", "我已经写好遗书了，放在抽屉里。", "遗书"),
    ("danger", "逼急了我就跟他们同归于尽。", "同归于尽"),
    ("danger", "村里人商量好了，月底再不给钱就把国道堵了。", "国道堵了"),
    ("danger", "来电人称已带着一桶汽油到了社保中心门口。", "汽油"),
    ("danger", "几个工友说再不结账就爬到塔吊上去。", "塔吊"),
    ("danger", "我真的活着没意思了。", "活着没意思"),
    ("danger", "他扬言要报复我全家，还拿刀在门口晃。", "拿刀"),
    ("collective", "我们全体村民联名反映征地补偿的问题。", "联名"),
    ("collective", "我们三十多户村民的地都被占了。", "三十多户村民"),
    ("collective", "我们200余名工人的工资被拖欠半年。", "200余名工人"),
    ("collective", "签名见附页，共41户。", "签名见附"),
    ("skip_level", "去年我已经去了省信访局，省里转回县里。", "省信访局"),
    ("skip_level", "再不解决我们就到北京上访。", "北京"),
    ("skip_level", "我在国家信访局网站上也投诉过。", "国家信访局"),
    ("skip_level", "我已经在国务院督查平台留言。", "国务院督查"),
    ("skip_level", "我在国务院“互联网+督查”平台也留了言。", "督查"),
    ("skip_level", "坐火车去了省城，在省信访局门口站了一上午。", "省信访局"),
    ("skip_level", "我们已经给省市场监管局也写了信。", "省市场监管局"),
    ("skip_level", "去年还去了省高院，每次都是驳回。", "省高院"),
    # a rule quoted in one clause does not cancel a trip told in the next
    ("skip_level", "我打听到省里有规定，户口可以迁出，于是给省公安厅写了信。", "省公安厅"),
    ("skip_level", "我已经给省委巡视组写了信反映。", "省委巡视组"),
    ("repeat", "这是我第三次来信反映这件事。", "第三次来信"),
    ("repeat", "这件事去年就向镇里反映过，没有下文。", "反映过"),
    ("repeat", "我前后跑了不下二十趟。", "跑了不下二十趟"),
    ("repeat", "我已经打过一次12345了。", "打过一次12345"),
]

SILENT = [
    ("danger", "我在电视上看到新闻报道，外地有人跳楼自杀，太可怕了。"),
    ("danger", "老赖的店天天挂着“跳楼价”，就是不还钱。"),
    ("danger", "我老伴被吵得要吃安眠药才能睡着。"),
    ("danger", "我们不想闹大，也不想堵路，只想要个说法。"),
    ("danger", "村里发的宣传单印着心理援助热线，写着珍爱生命、远离自杀。"),
    ("danger", "请尽快处理路面的坑，别等出了事再来。"),
    ("collective", "我家门口的5棵树被邻居砍了。"),
    ("collective", "这栋楼有36户，我家住在六楼。"),
    ("collective", "我一个人带着孩子去了三趟。"),
    ("danger", "去年冬天后墙整片倒塌，幸好老人睡在另一间，才没有出人命。"),
    ("danger", "俺也不是要砸人饭碗，就是求管事的来看看。"),
    ("danger", "我们几个老党员在拼命劝大家冷静。"),
    ("skip_level", "沿着省道往北走两公里就是那个厂。"),
    ("skip_level", "我家住在北京路上，门口天天堵车。"),
    ("skip_level", "比坐高铁到省城还慢。"),
    ("skip_level", "已向省高级人民法院申请再审，被裁定驳回。"),
    ("skip_level", "初一年级组织去省城研学旅行。"),
    ("skip_level", "请住建部门督促开发商整改。"),
    ("skip_level", "教育部早就规定公办高中不得举办复读班。"),
    ("skip_level", "我们住在龙潭街道新华社区三号楼。"),
    ("skip_level", "听说有的人跑到北京去上访，我身体不好，也不想那样做。"),
    ("skip_level", "我不是要去北京告状，就想问问政府能不能协调。"),
    ("repeat", "这是我第一次写信，请领导看一看。"),
    ("repeat", "我家去年种了三亩玉米。"),
]


@pytest.mark.parametrize(("flag", "text", "evidence"), RAISES)
def test_rule_raises_the_flag_with_evidence(flag: str, text: str, evidence: str) -> None:
    ev = rule_hit(RULES.flags[flag], text, COUNT)
    assert ev is not None, f"{flag} not raised by {text}"
    assert evidence in ev


@pytest.mark.parametrize(("flag", "text"), SILENT)
def test_rule_stays_silent(flag: str, text: str) -> None:
    assert rule_hit(RULES.flags[flag], text, COUNT) is None


def test_evidence_is_the_sentence_not_the_whole_letter() -> None:
    text = "我们村的地被征收了。" * 20 + "再不给钱我就喝农药。" + "补偿标准太低。" * 20
    ev = rule_hit(RULES.flags["danger"], text, COUNT)
    assert ev == "再不给钱我就喝农药。"


def test_long_sentence_evidence_is_clipped_around_the_match() -> None:
    text = "我" + "很难过" * 60 + "活不下去了" + "真的" * 60
    ev = rule_hit(RULES.flags["danger"], text, COUNT)
    assert ev is not None and "活不下去" in ev and len(ev) <= 80


def test_unless_cancels_only_its_own_sentence() -> None:
    text = "我看到新闻报道说有人自杀。我现在也不想活了。"
    assert rule_hit(RULES.flags["danger"], text, COUNT) == "我现在也不想活了。"


def test_sentences_split_on_chinese_punctuation_and_lines() -> None:
    parts = [s for _, s in sentences("第一句。第二句！\n第三句")]
    assert parts == ["第一句。", "第二句！", "第三句"]


def test_detect_model_vetoes_weak_rule_match_and_adds_missed_flag() -> None:
    text = "我们的事情拖了很久。希望领导关心一下。"
    # no rule fires; the learned score alone raises collective above t_model
    hits = detect(RULES, text, {"collective": 0.9}, {"collective": (0.2, 0.5)},
                  lambda fid, sents: [0.1, 0.8], COUNT)
    assert [(h.id, h.source, h.evidence) for h in hits] == [
        ("collective", "model", "希望领导关心一下。")]
    # a rule match the model finds very unlikely is dropped
    hits = detect(RULES, "我们全体村民联名反映。", {"collective": 0.05},
                  {"collective": (0.2, 0.5)}, None, COUNT)
    assert hits == []


def test_choose_thresholds_meets_the_recall_target() -> None:
    truth = [True] * 10 + [False] * 90
    scores = [0.9] * 8 + [0.3, 0.2] + [0.25] * 10 + [0.01] * 80
    rule = [False] * 100
    t_rule, t_model = choose_thresholds(scores, rule, truth, target_recall=1.0)
    pred = [s >= t_model for s in scores]
    assert all(p for p, y in zip(pred, truth, strict=True) if y)
    t_rule, t_model = choose_thresholds(scores, rule, truth, target_recall=None)
    # best F1 keeps the positive at 0.3 and gives up the one at 0.2 below ten negatives
    assert 0.25 < t_model <= 0.3
