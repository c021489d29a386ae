"""Journey rules as sentences a person reads (SPEC §4): a stage's rules are OR'ed,
a rule's conditions AND'ed, so "has tag 拔牙 or (has tag 种牙/补牙 and stage 付费)".

Pure: the words come from the caller, already in the reader's language (the panel
passes them through babel), so this module only decides the shape of the sentence.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from jobs.core.rules_journey import rule_conditions

ENGLISH = {"tags_any": "has tag {value}", "stage": "stage {value}",
           "churn_status": "churn status {value}", "and": "and", "or": "or",
           "or_tags": "/", "nobody": "no rule: entered by hand only", "empty": "?"}


def condition_sentence(condition: Mapping, words: Mapping = ENGLISH,
                       labels: Mapping | None = None) -> str:
    """One condition, e.g. "has tag 种牙/补牙"; values are shown by their label if given."""
    labels = labels or {}
    if not isinstance(condition, Mapping) or len(condition) != 1:
        return words["empty"]
    kind, value = next(iter(condition.items()))
    values = value if isinstance(value, (list, tuple)) else [value]
    shown = words["or_tags"].join(str(labels.get(v, v)) for v in values if v not in (None, ""))
    template = words.get(kind)
    if template is None:
        return words["empty"]
    return template.format(value=shown or words["empty"])


def rule_sentence(rule, words: Mapping = ENGLISH, labels: Mapping | None = None) -> str:
    """One rule: its conditions joined by "and"."""
    return f" {words['and']} ".join(condition_sentence(c, words, labels)
                                    for c in rule_conditions(rule)) or words["empty"]


def rules_sentence(rules: Sequence, words: Mapping = ENGLISH,
                   labels: Mapping | None = None) -> str:
    """A stage's rules joined by "or"; a rule of several conditions is put in
    parentheses when there is more than one rule, so the grouping reads right."""
    if not rules:
        return words["nobody"]
    parts = []
    for rule in rules:
        text = rule_sentence(rule, words, labels)
        several = len(rule_conditions(rule)) > 1
        parts.append(f"({text})" if several and len(rules) > 1 else text)
    return f" {words['or']} ".join(parts)
