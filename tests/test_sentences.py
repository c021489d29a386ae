"""Journey rules read as sentences (jobs/core/sentences.py): OR of ANDs, grouped right."""
from jobs.core.sentences import condition_sentence, rule_sentence, rules_sentence

CHINESE = {"tags_any": "有标签 {value}", "stage": "阶段 {value}",
           "churn_status": "流失状态 {value}", "and": "且", "or": "或", "or_tags": "/",
           "nobody": "没有规则", "empty": "？"}


def test_the_issue_example_reads_as_written():
    rules = [{"tags_any": ["拔牙"]},
             {"all": [{"tags_any": ["种牙", "补牙"]}, {"stage": "付费"}]}]
    assert rules_sentence(rules, CHINESE) == "有标签 拔牙 或 (有标签 种牙/补牙 且 阶段 付费)"
    assert rules_sentence(rules) == \
        "has tag 拔牙 or (has tag 种牙/补牙 and stage 付费)"


def test_a_single_rule_needs_no_parentheses():
    rule = {"all": [{"tags_any": ["a"]}, {"churn_status": "lost"}]}
    assert rules_sentence([rule], CHINESE) == "有标签 a 且 流失状态 lost"
    assert rule_sentence(rule, CHINESE, {"lost": "已流失"}) == "有标签 a 且 流失状态 已流失"


def test_no_rules_and_broken_conditions_still_read():
    assert rules_sentence([], CHINESE) == "没有规则"
    assert condition_sentence({"tags_any": []}, CHINESE) == "有标签 ？"
    assert condition_sentence({"odd": "x"}, CHINESE) == "？"
    assert condition_sentence({}, CHINESE) == "？"
    assert rule_sentence({"all": []}, CHINESE) == "？"
