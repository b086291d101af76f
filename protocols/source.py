"""Reading protocol text: UTF-8 and safe YAML only, with the line of every value kept.

Files are data. The composer builds plain nodes, scalars go through PyYAML's safe
constructor (no Python tags), and the tree is walked here so that each value's path
(`steps[3].until[0]`) maps to the line it came from. Aliases are followed with a node budget
and a depth limit, so a document cannot blow up in memory or recursion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from protocols.errors import Problem, ProtocolError

MAX_BYTES = 2_000_000
MAX_NODES = 200_000
MAX_DEPTH = 60

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


@dataclass
class Document:
    """A parsed file: plain data plus the line of each path."""

    file: str
    data: Any
    text: str
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """Line of `path`, or of its nearest parent that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""


def decode(data: str | bytes, file: str) -> str:
    """Bytes to text; anything that is not UTF-8 is refused with the offending line."""
    if isinstance(data, str):
        text = data
    else:
        if len(data) > MAX_BYTES:
            raise ProtocolError([Problem(file, "", f"is larger than {MAX_BYTES} bytes")])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            bad = data[exc.start : exc.start + 1].hex()
            raise ProtocolError(
                [
                    Problem(
                        file,
                        "",
                        f"is not UTF-8 text (byte 0x{bad} at offset {exc.start}); save it as UTF-8",
                        line,
                    )
                ]
            ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if len(text) > MAX_BYTES:
        raise ProtocolError([Problem(file, "", f"is larger than {MAX_BYTES} characters")])
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ProtocolError([Problem(file, "", "contains a NUL character; it is not text", line)])
    return text


def parse_yaml(data: str | bytes, file: str) -> Document:
    """Text to a Document, or ProtocolError naming the line of the YAML mistake."""
    text = decode(data, file)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        at = text[: exc.position].count("\n") + 1
        raise ProtocolError(
            [
                Problem(
                    file,
                    "",
                    f"contains the control character #x{exc.character:04x}, which YAML does not "
                    "allow",
                    at,
                )
            ]
        ) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            what = (exc.problem or exc.context or "malformed").strip()
            raise ProtocolError([Problem(file, "", f"is not valid YAML: {what}", line)]) from None
        except yaml.YAMLError as exc:
            raise ProtocolError([Problem(file, "", f"is not valid YAML: {exc}")]) from None
        except RecursionError:
            raise ProtocolError(
                [Problem(file, "", "is nested too deeply to be a protocol")]
            ) from None
        doc = Document(file, None, text)
        if node is None:
            return doc
        walker = _Walker(loader, doc)
        doc.data = walker.walk(node, "", 0)
        if walker.problems:
            raise ProtocolError(walker.problems)
        return doc
    finally:
        loader.dispose()


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.count = 0
        self.problems: list[Problem] = []

    def _fail(self, path: str, message: str, node: yaml.Node) -> None:
        self.problems.append(Problem(self.doc.file, path, message, node.start_mark.line + 1))

    def walk(self, node: yaml.Node, path: str, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ProtocolError(
                [Problem(self.doc.file, path, "has too many values (aliases expand too far)")]
            )
        if depth > MAX_DEPTH:
            raise ProtocolError(
                [
                    Problem(
                        self.doc.file,
                        path,
                        "is nested too deeply (or refers to itself through an alias)",
                        node.start_mark.line + 1,
                    )
                ]
            )
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                self._fail(
                    path, f"uses the YAML tag '{node.tag}', which protocols do not allow", node
                )
                return None
            try:
                self.loader.flatten_mapping(node)
            except yaml.YAMLError as exc:
                self._fail(path, f"has a bad merge key: {getattr(exc, 'problem', exc)}", node)
                return None
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = (
                    self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
                )
                if not isinstance(key, str):
                    self._fail(path, "has a key that is not a plain name", key_node)
                    continue
                sub = f"{path}.{key}" if path else key
                self.doc.lines[sub] = key_node.start_mark.line + 1
                if key in out:
                    self._fail(sub, f"the key '{key}' appears twice", key_node)
                    continue
                out[key] = self.walk(value_node, sub, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self._fail(
                    path, f"uses the YAML tag '{node.tag}', which protocols do not allow", node
                )
                return None
            return [self.walk(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: str) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            what = getattr(exc, "problem", None) or str(exc)
            self._fail(path, f"has a value YAML cannot read safely: {what}", node)
            return None
        except (ValueError, OverflowError) as exc:
            self._fail(path, f"has an unreadable value: {exc}", node)
            return None
        if not isinstance(value, str | int | float | bool | type(None)):
            self._fail(
                path,
                f"has a {type(value).__name__} value; write it as a quoted string or a number",
                node,
            )
            return None
        return value
