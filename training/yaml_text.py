"""The one YAML reader for what users write: sweep specs, trial files, `--set` values, dataset.yaml.

Any process (driver or worker: `training.knowledge_folder` reads dataset.yaml), pure Python.
PyYAML's `safe_load` is safe from code execution but not from size: an alias bomb (nine anchors
of nine aliases each) is a few hundred bytes that expands to hundreds of millions of items as soon
as anything walks it, and a repeated key silently keeps the last value. Here a document may use
at most `MAX_ALIASES` aliases, a file at most `MAX_FILE_BYTES` bytes, nesting at most what Python's
recursion allows, and every key of a mapping once; each refusal is one `InputError` line naming
where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from training.errors import InputError, excerpt

MAX_FILE_BYTES = 1 << 20
"""1 MiB: the paper's whole sweep grid is 6 kB; a larger file is not a hand-written spec."""
MAX_ALIASES = 64
"""Aliases (`*name`) per document: enough to reuse a grid per method, too few to expand a bomb
(with k aliases the document can grow at most ~e^(k/e) times: ~1.7e10 bounded by the file size
far earlier, since each alias level needs its own anchor and list)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and refuses a key given twice in one mapping."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # noqa: ANN401 (PyYAML's own type)
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _Refused(f"line {mark.line + 1}: more than {MAX_ALIASES} aliases (*name)")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            try:
                if key in first_line:
                    where = f"line {line}: key {excerpt(key)} given twice (first on line {first_line[key]})"
                    raise _Refused(f"{where}; keep one")
                first_line[key] = line
            except TypeError:  # an unhashable key: PyYAML's own error names it below
                continue
        return super().construct_mapping(node, deep=deep)


class _Refused(Exception):
    """A document this reader will not expand; the message names the line."""


def parse_yaml(text: str, source: str) -> Any:  # noqa: ANN401 (YAML data)
    """The data of one YAML document, or one line naming `source` and what is wrong."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise InputError(f"{source} {exc}") from None
    except RecursionError:
        raise InputError(
            f"{source}: nested too deeply; a spec is a few levels of mappings and lists"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source} line {mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}: malformed YAML ({problem})") from None
    finally:
        loader.dispose()


def read_yaml_file(path: Path, source: str | None = None) -> Any:  # noqa: ANN401 (YAML data)
    """`parse_yaml` of a file of at most MAX_FILE_BYTES (a FIFO or /dev/zero is refused, never read whole)."""
    source = source or str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{source}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{source} is over {MAX_FILE_BYTES >> 20} MiB; a YAML file mft reads is a few kB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_yaml(text, source)
