"""`python -m promptc_pack render PACK INPUTS.json [--persona P]` | `parse PACK ANSWER.txt`.

Prints one JSON object: `{"messages": [...]}`, `{"outputs": {...}}`, or `{"error": "..."}`
with exit 1. For conformance checks from outside a test framework and for people debugging
a server.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from . import PackError, ParseError, load_pack, parse, render


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="promptc-pack")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="the messages promptc sends for these inputs")
    r.add_argument("pack")
    r.add_argument("inputs", help="a file holding one JSON object of input fields")
    r.add_argument("--persona")
    p = sub.add_parser("parse", help="the outputs promptc reads from this answer")
    p.add_argument("pack")
    p.add_argument("answer", help="a file holding the model's answer")
    args = ap.parse_args(argv)
    try:
        pack = load_pack(args.pack)
        if args.command == "render":
            with open(args.inputs, encoding="utf-8") as f:
                inputs = json.load(f)
            if not isinstance(inputs, dict):
                raise PackError(f"{args.inputs}: not a JSON object of input fields")
            out = {"messages": render(pack, inputs, persona=args.persona)}
        else:
            with open(args.answer, encoding="utf-8") as f:
                out = {"outputs": parse(pack, f.read())}
    except (PackError, ParseError, OSError, ValueError) as e:
        print(json.dumps({"error": str(e)}, ensure_ascii=False))
        return 1
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
