"""Reading and writing config-as-code YAML: strict about repeated keys, quoting times."""
from __future__ import annotations

import re

import yaml

HHMM = re.compile(r"^\d{2}:\d{2}$")


class _Dumper(yaml.SafeDumper):
    """Quotes times like "09:30" so no YAML reader takes them for numbers."""


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = '"' if HHMM.match(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(doc: dict) -> str:
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=False, width=100)


class _StrictLoader(yaml.SafeLoader):
    """Refuses a repeated key in a mapping, which plain YAML silently resolves to the last."""


def _construct_unique_mapping(loader: _StrictLoader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<` merges may legitimately be overridden
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"found the key '{key}' twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              _construct_unique_mapping)


def load_yaml(stream):
    """Read a config document; raises yaml.YAMLError (with line numbers) on bad YAML."""
    return yaml.load(stream, Loader=_StrictLoader)
