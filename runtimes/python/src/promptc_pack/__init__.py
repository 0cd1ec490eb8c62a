"""Serve a promptc pack: render exactly what promptc scored, read the answer, log the trace.

Every function here follows promptc's own renderer and parser (``src/adapter`` in promptc);
the conformance fixtures in ``runtimes/fixtures`` are generated from them and this package's
tests assert byte equality against every one.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Union

__all__ = [
    "Pack",
    "PackError",
    "ParseError",
    "answer_schema",
    "choose_pack",
    "load_pack",
    "pack_id",
    "parse",
    "reask",
    "reminder",
    "render",
    "rollout_point",
    "serves_candidate",
    "trace_line",
]

FORMATS = ("promptc.pack/v1", "promptc.pack/v2", "promptc.pack/v3")

Pack = Dict[str, Any]
Message = Dict[str, str]


class PackError(ValueError):
    """The pack cannot be served: an unknown format, a stale signature hash, a bad demo."""


class ParseError(ValueError):
    """The model's answer cannot be read as the signature's outputs.

    ``kind`` is ``missing``, ``bad_enum`` or ``unstructured``; ``str(error)`` is promptc's message.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _compact(value: Any, sort_keys: bool = False) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)


def load_pack(source: Union[str, "os.PathLike[str]", Mapping[str, Any]]) -> Pack:
    """Loads and validates a pack from a path or from parsed JSON."""
    if isinstance(source, Mapping):
        pack = dict(source)
        where = "pack"
    else:
        where = os.fspath(source)
        with open(where, encoding="utf-8") as f:
            try:
                pack = json.load(f)
            except json.JSONDecodeError as e:
                raise PackError(f"{where}: not JSON: {e}") from None
    if not isinstance(pack, dict):
        raise PackError(f"{where}: a pack is a JSON object")
    fmt = pack.get("format")
    if fmt not in FORMATS:
        raise PackError(
            f"{where}: unknown pack format `{fmt}`; this runtime reads {', '.join(FORMATS)}"
        )
    if fmt == "promptc.pack/v1":
        return pack
    sig = pack.get("signature") or {}
    spec = sig.get("spec")
    if not isinstance(spec, dict):
        raise PackError(f"{where}: signature.spec is missing")
    digest = "sha256:" + hashlib.sha256(_compact(spec).encode("utf-8")).hexdigest()
    if digest != sig.get("hash"):
        raise PackError(
            f"{where}: signature.hash is {sig.get('hash')} but the embedded signature hashes to "
            f"{digest}; re-render the pack with `promptc pack render --write`"
        )
    for demo in pack.get("demos") or []:
        for name, out in (spec.get("outputs") or {}).items():
            values = out.get("enum")
            value = (demo.get("outputs") or {}).get(name)
            if values is not None and value not in values:
                raise PackError(
                    f"{where}: demo {demo.get('trace_id')}: outputs.{name} is `{value}`, "
                    f"not one of {', '.join(values)}"
                )
    if not isinstance((pack.get("rendered") or {}).get("system"), str):
        raise PackError(f"{where}: rendered.system is missing")
    return pack


def pack_id(pack: Pack) -> str:
    """The pack's id, as promptc defines it (see "Pack id" in promptc's README)."""
    fmt = pack["format"]
    if fmt == "promptc.pack/v1":
        doc: Dict[str, Any] = {
            "format": fmt,
            "signature": pack["signature"],
            "voices": pack["voices"],
        }
    else:
        rendered: Dict[str, Any] = {"system": pack["rendered"]["system"]}
        if pack["rendered"].get("personas") is not None:
            rendered["personas"] = pack["rendered"]["personas"]
        doc = {
            "format": fmt,
            "adapter": pack.get("adapter", "sections"),
            "signature": pack["signature"]["hash"],
            "rendered": rendered,
        }
    return "sha256:" + hashlib.sha256(_compact(doc).encode("utf-8")).hexdigest()


def rollout_point(thread: str) -> float:
    """Where a thread falls in [0, 1) for a rollout: the first eight bytes of the
    sha256 of its id (UTF-8), big-endian, over 2**64, as promptc's `realized` assumes."""
    digest = hashlib.sha256(thread.encode("utf-8")).digest()
    return float(int.from_bytes(digest[:8], "big")) / 2.0**64


def serves_candidate(thread: str, share: float) -> bool:
    """Whether a rollout of `share` (0..1) serves the candidate to `thread`."""
    return rollout_point(thread) < share


def choose_pack(thread: str, current: Pack, candidate: Pack, share: float) -> Pack:
    """The pack to serve `thread` while `candidate` is rolled out to `share` of threads."""
    return candidate if serves_candidate(thread, share) else current


def _spec(pack: Pack) -> Dict[str, Any]:
    if pack.get("format") == "promptc.pack/v1":
        raise PackError("a promptc.pack/v1 pack holds persona voices only; there is no prompt")
    return pack["signature"]["spec"]


def render_value(value: Any) -> str:
    """An input value as the model sees it: strings as they are, others as compact JSON."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return _compact(value, sort_keys=True)


def render(pack: Pack, inputs: Mapping[str, Any], persona: Optional[str] = None) -> List[Message]:
    """The system and user messages promptc sends for these inputs."""
    spec = _spec(pack)
    rendered = pack["rendered"]
    system = (rendered.get("personas") or {}).get(persona, rendered["system"]) if persona else rendered["system"]
    parts = []
    for name in spec.get("inputs") or {}:
        parts.append(f"=== {name} ===\n{render_value(inputs.get(name))}\n\n")
    outputs = list(spec.get("outputs") or {})
    if pack.get("adapter", "sections") == "json":
        keys = ", ".join(f"`{o}`" for o in outputs)
        parts.append(f"Answer with one JSON object with the keys {keys}.")
    else:
        headers = ", ".join(f"`=== {o} ===`" for o in outputs)
        parts.append(f"Answer with {headers}, then `=== end ===`.")
    user = "".join(parts).rstrip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def answer_schema(pack: Pack) -> Dict[str, Any]:
    """The JSON Schema of the answer under the `json` adapter (the provider's structured output)."""
    spec = _spec(pack)
    props: Dict[str, Any] = {}
    for name, out in (spec.get("outputs") or {}).items():
        p: Dict[str, Any] = {"type": "string"}
        if out.get("desc"):
            p["description"] = out["desc"]
        if out.get("enum") is not None:
            p["enum"] = out["enum"]
        props[name] = p
    return {
        "type": "object",
        "properties": props,
        "required": list(spec.get("outputs") or {}),
        "additionalProperties": False,
    }


def _example_answer(spec: Dict[str, Any]) -> str:
    parts = []
    for name, out in (spec.get("outputs") or {}).items():
        values = out.get("enum")
        hint = f"<one of: {', '.join(values)}>" if values is not None else f"<{name}>"
        parts.append(f"{_compact(name)}: {_compact(hint)}")
    return "{" + ", ".join(parts) + "}"


def reminder(pack: Pack, error: ParseError) -> str:
    """The follow-up promptc sends once when an answer could not be read."""
    spec = _spec(pack)
    head = f"Your previous answer could not be read: {error}\n\n"
    if pack.get("adapter", "sections") == "json":
        body = "Answer again with one JSON object and nothing else, every key present:\n\n"
        return (head + body + _example_answer(spec)).rstrip()
    body = "Answer again using exactly this layout, with every field present:\n\n"
    for name, out in (spec.get("outputs") or {}).items():
        values = out.get("enum")
        hint = f"<one of: {', '.join(values)}>" if values is not None else f"<{name}>"
        body += f"=== {name} ===\n{hint}\n\n"
    return (head + body + "=== end ===").rstrip()


def reask(pack: Pack, messages: List[Message], answer: str, error: ParseError) -> List[Message]:
    """The conversation for promptc's one re-ask: the answer, then the reminder."""
    return list(messages) + [
        {"role": "assistant", "content": answer},
        {"role": "user", "content": reminder(pack, error)},
    ]


def _normalize(s: str) -> str:
    out: List[str] = []
    pending = False
    for c in s.strip():
        if c.isalnum():
            if pending and out:
                out.append("-")
            pending = False
            out.append(c.lower())
        else:
            pending = True
    return "".join(out)


def _match_enum(values: List[str], value: str) -> Optional[str]:
    if value in values:
        return value
    key = _normalize(value)
    for v in values:
        if _normalize(v) == key:
            return v
    return None


def _truncate(s: str) -> str:
    return s if len(s) <= 80 else s[:80] + "…"


def _lines(text: str) -> List[str]:
    # As Rust's str::lines: split at \n, drop a \r only before a \n, no empty last line.
    lines = text.split("\n")
    last = lines.pop()
    out = [line[:-1] if line.endswith("\r") else line for line in lines]
    if last:
        out.append(last)
    return out


def _header(line: str) -> Optional[str]:
    t = line.strip()
    if not t.startswith("==") or len(t) < 4:
        return None
    inner = t[2:].lstrip("=")
    if not inner.endswith("=="):
        return None
    inner = inner[:-2].rstrip("=")
    key = _normalize(inner)
    return key or None


def _parse_headers(spec: Dict[str, Any], text: str) -> Optional[List[tuple]]:
    names = [(_normalize(n), n) for n in spec.get("outputs") or {}]
    found: List[tuple] = []
    current: Optional[tuple] = None
    any_header = False

    def flush(cur: Optional[tuple]) -> None:
        if cur is not None and all(n != cur[0] for n, _ in found):
            found.append((cur[0], "\n".join(cur[1]).strip()))

    for line in _lines(text):
        key = _header(line)
        if key is not None:
            any_header = True
            flush(current)
            current = None
            if key == "end":
                break
            current = next(((n, []) for k, n in names if k == key), None)
            continue
        if current is not None:
            current[1].append(line)
    flush(current)
    return found if any_header else None


def _parse_json(spec: Dict[str, Any], text: str) -> Optional[List[tuple]]:
    t = text.strip()
    for fence in ("```json", "```"):
        if t.startswith(fence):
            t = t[len(fence):].rstrip().rstrip("`")
            break
    start, end = t.find("{"), t.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        obj = json.loads(t[start : end + 1])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    found = []
    # promptc reads the object's keys in sorted order.
    for k in sorted(obj):
        key = _normalize(k)
        name = next((n for n in spec.get("outputs") or {} if _normalize(n) == key), None)
        if name is not None:
            found.append((name, obj[k]))
    return found


def parse(pack: Pack, text: str) -> Dict[str, Any]:
    """The signature's outputs in the model's answer, read as promptc reads them."""
    spec = _spec(pack)
    outputs = spec.get("outputs") or {}
    found = _parse_headers(spec, text)
    if found is None:
        found = _parse_json(spec, text)
    if found is None and len(outputs) == 1 and text.strip():
        found = [(next(iter(outputs)), text.strip())]
    if found is None:
        raise ParseError(
            "unstructured",
            "the answer has none of the `=== field ===` headers and is not a JSON object",
        )
    out: Dict[str, Any] = {}
    missing: List[str] = []
    for name, field in outputs.items():
        hit = next((v for n, v in found if n == name), _MISSING)
        if hit is _MISSING:
            missing.append(name)
            continue
        values = field.get("enum")
        if values is not None:
            s = render_value(hit)
            canon = _match_enum(values, s)
            if canon is None:
                raise ParseError(
                    "bad_enum",
                    f"`{name}` is `{_truncate(s)}`, which is not one of {', '.join(values)}",
                )
            hit = canon
        elif isinstance(hit, str) and not hit.strip():
            missing.append(name)
            continue
        out[name] = hit
    if missing:
        raise ParseError("missing", f"missing output field(s): {', '.join(missing)}")
    return out


_MISSING = object()


def trace_line(
    pack: Pack,
    *,
    inputs: Mapping[str, Any],
    outputs: Optional[Mapping[str, Any]],
    thread: str,
    workspace: Optional[str] = None,
    ts: Optional[datetime] = None,
    status: str = "ok",
    meta: Optional[Mapping[str, Any]] = None,
) -> str:
    """One line of promptc's trace format for a call served with this pack (no newline)."""
    when = (ts or datetime.now(timezone.utc)).astimezone(timezone.utc)
    line: Dict[str, Any] = {
        "signature": _spec(pack)["name"],
        "thread": thread,
        "ts": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "pack": pack_id(pack),
        "inputs": dict(inputs),
        # A failed call logs no outputs; promptc reads `{}` with a non-ok status.
        "outputs": dict(outputs) if outputs is not None else {},
        "status": status,
    }
    if workspace is not None:
        line["workspace"] = workspace
    if meta is not None:
        line["meta"] = dict(meta)
    return _compact(line)
