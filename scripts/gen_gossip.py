#!/usr/bin/env python3
"""Generate the gossip example's traces, deterministically.

    python3 scripts/gen_gossip.py            # writes examples/gossip/traces/*.jsonl
                                             # and examples/gossip/testdata/malformed.jsonl
    python3 scripts/gen_gossip.py --pack     # also rewrites packs/speak.json (needs PyYAML)
    python3 scripts/gen_gossip.py --deployed # also the deployed history (deployed/)

The same seed always writes the same bytes (the tests rely on the counts). The
rooms are synthetic but shaped like production logs of a multi-persona app:
six personas take turns in rooms of four workspaces; each turn logs the twelve
inputs of the `speak` signature, the two outputs, a status and model metadata.
A few turns failed (status error), a few outputs use near-miss enum spellings
("Dissent on evidence"), and a few lines were logged twice, as real loggers do.
"""

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20261103
ROOT = Path(__file__).resolve().parent.parent / "examples" / "gossip"

PERSONAS = {
    "builder": "Ships things. Thinks in smallest shippable slices, owners and dates; impatient with talk that does not change the plan.",
    "skeptic": "Assumes the happy path is wrong. Asks for the number behind every claim and names the failure mode nobody mentioned.",
    "historian": "Remembers what was tried before and why it failed or worked; brings precedent, not nostalgia.",
    "operator": "Runs production. Cares about on-call load, rollback, alerts and what breaks at 3 a.m.",
    "customer-voice": "Speaks for users with quotes and support tickets; pushes back on internal convenience that costs users.",
    "strategist": "Connects the choice to the quarter's bets and to what competitors do; weighs cost of delay.",
}

MOVES = ["reframe", "steelman", "probe", "dissent-on-evidence", "synthesize", "verify"]
NEAR_MISS = {
    "dissent-on-evidence": ["Dissent on evidence", "dissent_on_evidence", "Dissent-On-Evidence"],
    "steelman": ["Steelman", "STEELMAN"],
    "synthesize": ["Synthesize"],
    "verify": ["Verify"],
    "probe": ["Probe"],
    "reframe": ["Reframe"],
}

WORKSPACES = {
    "acme": "Decisions need an owner and a date. Cite evidence by id. No 'we all agree' without a round.",
    "northwind": "Keep turns short. Write the decision record as you go. Disagreement is welcome if it has a source.",
    "globex": "Customer impact first. Every plan needs a rollback. Unverified numbers must be marked as such.",
    "initech": "Timebox everything. Park tangents in open questions. The facilitator closes with a synthesis.",
}

TOPICS = [
    {
        "topic": "move billing from seats to usage-based pricing",
        "goal": "A decision record: pricing model, migration plan for existing customers, and the metric that would make us reverse it.",
        "questions": ["What happens to customers whose bill goes up more than 20%?", "Can metering handle peak load?", "Who owns the migration emails?"],
        "evidence": [
            ("Usage pricing pilots at three customers raised expansion revenue 14% in a quarter", "pilot report Q3", True),
            ("Metering pipeline drops 0.3% of events under peak load", "load test 2026-09-12", True),
            ("Competitors moved to usage pricing last year", "sales call notes", False),
            ("31% of seat licenses are unused", "license audit", True),
        ],
        "artifact": "Decision: pilot usage pricing for new customers only. Owner: TBD. Reverse if: TBD.",
    },
    {
        "topic": "ship offline mode for the mobile app",
        "goal": "A scoped plan for offline mode v1: what syncs, conflict rules, and the release checklist.",
        "questions": ["Which data must be editable offline?", "How do we resolve edit conflicts?", "What is the max offline duration we support?"],
        "evidence": [
            ("18% of mobile sessions start with no connectivity", "analytics dashboard", True),
            ("Last-write-wins lost edits in 2 of 40 beta conflicts", "beta bug tracker", True),
            ("Users say offline is the top requested feature", "app store reviews sample", False),
            ("SQLite storage grows 40 MB per month of cached data", "prototype measurement", True),
        ],
        "artifact": "Offline v1: read-only cache of projects; edits queue locally. Conflict rule: TBD.",
    },
    {
        "topic": "deprecate API v1",
        "goal": "A deprecation plan: dates, the customers affected, the migration help we give, and the kill switch.",
        "questions": ["Which customers still call v1 daily?", "Do we offer a compatibility shim?", "What is the final cutoff date?"],
        "evidence": [
            ("42 customers made v1 calls in the last 30 days", "API gateway logs", True),
            ("v1 accounts for 11% of on-call pages", "incident review", True),
            ("Most v1 customers plan to migrate this quarter", "account manager survey", False),
            ("The v2 SDK covers all v1 endpoints except bulk export", "SDK changelog", True),
        ],
        "artifact": "Deprecation: announce now, brownouts in month 2, cutoff TBD. Bulk export gap: TBD.",
    },
    {
        "topic": "choose a vector database for search",
        "goal": "A decision between the two shortlisted vector stores, with the benchmark that decided it and the exit plan.",
        "questions": ["What recall do we need at p95 latency 50 ms?", "Can we self-host in the EU region?", "What does migration off it cost?"],
        "evidence": [
            ("Store A reached 0.94 recall@10 at 38 ms p95 on our corpus", "internal benchmark run 7", True),
            ("Store B reached 0.91 recall@10 at 22 ms p95", "internal benchmark run 7", True),
            ("Store B has an EU region", "vendor docs", True),
            ("Store A is what everyone uses now", "conference talk", False),
        ],
        "artifact": "Decision: TBD between A and B. Benchmark: run 7. Exit plan: TBD.",
    },
    {
        "topic": "reduce on-call pages for the ingest service",
        "goal": "A plan to cut ingest pages by half in six weeks: which alerts change, owners, and how we measure.",
        "questions": ["Which alerts are never actionable?", "Is the retry storm the main cause?", "Who owns the runbook rewrite?"],
        "evidence": [
            ("63% of ingest pages in October auto-resolved within 5 minutes", "pager export", True),
            ("Retry storms preceded 4 of the last 6 incidents", "postmortems", True),
            ("Other teams page far less", "hallway conversation", False),
            ("The disk-usage alert fired 120 times with no action taken", "pager export", True),
        ],
        "artifact": "Plan: demote auto-resolving alerts to tickets; add retry jitter. Owners: TBD.",
    },
    {
        "topic": "launch the team analytics dashboard",
        "goal": "A launch checklist: who gets it first, the success metric, and the guardrails for data privacy.",
        "questions": ["Do managers see individual-level data?", "What adoption counts as success?", "Which workspaces pilot it?"],
        "evidence": [
            ("Pilot teams opened the dashboard 3.2 times a week", "pilot telemetry", True),
            ("Two pilot customers asked to hide individual metrics", "support tickets", True),
            ("Dashboards drive retention", "blog post", False),
            ("Query cost is 0.4 cents per dashboard load", "cost report", True),
        ],
        "artifact": "Launch: pilot workspaces first; individual metrics hidden by default. Success metric: TBD.",
    },
    {
        "topic": "retro on the October outage",
        "goal": "A retro record: timeline, contributing causes, and three changes with owners.",
        "questions": ["Why did the failover not trigger?", "Did the status page lag?", "Which change prevents recurrence?"],
        "evidence": [
            ("Failover health check pointed at a deprecated endpoint", "incident timeline", True),
            ("Status page updated 38 minutes after first alert", "status page history", True),
            ("Customers churned because of the outage", "rumour in sales channel", False),
            ("The same health check misconfiguration exists in two other services", "config audit", True),
        ],
        "artifact": "Retro: cause = stale health check. Changes: TBD (3, with owners).",
    },
    {
        "topic": "hire for the platform team",
        "goal": "A hiring decision: which role first, the bar, and the interview loop.",
        "questions": ["Do we need a senior SRE or a platform generalist first?", "Can we promote internally?", "What is the loop length?"],
        "evidence": [
            ("Platform tickets waited a median 9 days in October", "ticket tracker", True),
            ("Two engineers asked to move to platform", "1:1 notes", True),
            ("SRE candidates are impossible to find", "recruiter opinion", False),
            ("Last hiring loop took 7 weeks end to end", "recruiting dashboard", True),
        ],
        "artifact": "Hiring: first role TBD. Loop: 4 interviews. Internal candidates: TBD.",
    },
    {
        "topic": "add SSO to the free tier",
        "goal": "A decision on SSO for free accounts, with the revenue risk and the abuse controls.",
        "questions": ["Does free SSO cannibalise the business plan?", "How do we stop abuse?", "What does support load look like?"],
        "evidence": [
            ("SSO is the top reason business plans are bought (41% of deals)", "win/loss analysis", True),
            ("Free-tier signups with corporate domains grew 25%", "signup data", True),
            ("Security teams block tools without SSO", "one customer's email", False),
            ("SSO setup tickets take 45 minutes of support each", "support metrics", True),
        ],
        "artifact": "Decision: TBD. Abuse controls: domain verification. Revenue guardrail: TBD.",
    },
    {
        "topic": "cut cloud spend by 15%",
        "goal": "A spend plan: the top three savings, their owners and the performance guardrails.",
        "questions": ["Which workloads can move to spot instances?", "Is the logging bill avoidable?", "What latency regression is acceptable?"],
        "evidence": [
            ("Logging is 22% of the cloud bill", "billing export", True),
            ("Batch jobs ran on on-demand instances 100% of October", "billing export", True),
            ("Reserved instances would save 30%", "vendor sales deck", False),
            ("Dev environments idle 70% of the week", "utilisation report", True),
        ],
        "artifact": "Spend plan: 1) log sampling 2) spot for batch 3) TBD. Guardrail: p95 latency +5% max.",
    },
]

OPENERS = {
    "builder": ["Let's make this concrete.", "Here's the smallest thing we could ship.", "Practically speaking,"],
    "skeptic": ["I'm not convinced yet.", "Hold on.", "Before we go further,"],
    "historian": ["We've been here before.", "For context,", "Last time we tried something like this,"],
    "operator": ["From the on-call side,", "Operationally,", "Whoever carries the pager will ask:"],
    "customer-voice": ["Users are telling us something different.", "From the support queue,", "If I read the tickets,"],
    "strategist": ["Zooming out,", "For the quarter's bets,", "Strategically,"],
}


def lc(text):
    """Lower-case a claim's first letter to run it into a sentence, unless it starts with an acronym or number."""
    first = text.split()[0]
    if first.isupper() or any(c.isdigit() for c in first):
        return text
    return text[0].lower() + text[1:]


def join(opener, rest):
    """Opener plus the rest of the sentence, capitalised when the opener ends one."""
    if opener.endswith((".", ":", "?")):
        rest = rest[0].upper() + rest[1:]
    return f"{opener} {rest}"


def cite(rng, evidence, verified_only=True):
    pool = [e for e in evidence if e["verified"]] if verified_only else evidence
    return rng.choice(pool)


def utterance(rng, move, persona, topic, evidence, prior, questions, mode):
    opener = rng.choice(OPENERS[persona])
    e = cite(rng, evidence)
    e2 = cite(rng, evidence)
    q = rng.choice(questions)
    last = prior[-1] if prior else None
    other = last["speaker"] if last else "the room"
    t = topic["topic"]
    if move == "reframe":
        options = [
            join(opener, f"maybe the question isn't whether to {t}, but what we'd need to see to stop. {e['id']} says {lc(e['claim'])}; that gives us a reversal metric for free."),
            join(opener, f"we keep arguing about the end state. What if the decision is only about the first slice, and '{q}' becomes the exit criterion?"),
            join(opener, f"this is a sequencing problem more than a {mode}-mode debate: {lc(e['claim'])} ({e['id']}), so order matters more than the choice."),
        ]
    elif move == "steelman":
        options = [
            join(opener, f"the strongest version of {other}'s point: {lc(e['claim'])} ({e['id']}), so waiting has a real cost even if the plan is imperfect."),
            f"To be fair to the other side, if {lc(e['claim'])} ({e['id']}), then pushing back now is the cautious choice, not the slow one.",
            f"Let me argue {other}'s case better than it was put: with {e['id']} in hand, the risk we fear is already measured, not hypothetical.",
        ]
    elif move == "probe":
        options = [
            join(opener, f"{q} Nobody has answered that, and the plan depends on it."),
            f"What would have to be true for {e['id']} to hold outside the sample it came from? {q}",
            join(opener, f"if {lc(e['claim'])}, what number tells us we were wrong, and who watches it?"),
        ]
    elif move == "dissent-on-evidence":
        options = [
            join(opener, f"I disagree: {e['id']} shows {lc(e['claim'])}, which cuts against the current draft."),
            f"I don't think the draft survives {e['id']}: {lc(e['claim'])}. We should change the plan, not the evidence.",
            join(opener, f"the draft assumes the opposite of {e['id']} ({e['source']}): {lc(e['claim'])}."),
        ]
    elif move == "synthesize":
        options = [
            f"Pulling this together: we act on {e['id']} and {e2['id']}, and '{q}' stays open with an owner. That is not consensus yet, it's a proposal.",
            f"Proposal: take {other}'s slice, use {e['id']} as the guardrail, and write the open question into the artifact instead of pretending it's settled.",
            join(opener, f"where we are: agreement on the first step, disagreement on '{q}'. I'll write both into the draft."),
        ]
    else:  # verify
        options = [
            f"Checking the draft against the evidence: {e['id']} ({e['source']}) does say {lc(e['claim'])}, so that line can stay.",
            join(opener, f"I reran the numbers behind {e['id']}; they hold. The draft's claim about it matches the source."),
            f"Before we sign: the draft cites {e['id']}, and the source is {e['source']}. That one is verified; the rest needs a check.",
        ]
    return rng.choice(options)


def pick_move(rng, persona, mode, recent):
    weights = {m: 1.0 for m in MOVES}
    weights["probe"] += 1.5 if persona == "skeptic" else 0
    weights["dissent-on-evidence"] += 1.2 if persona in ("skeptic", "operator") else 0
    weights["synthesize"] += 1.5 if persona == "strategist" or mode == "decide" else 0
    weights["verify"] += 1.5 if mode == "ship" or persona == "operator" else 0
    weights["reframe"] += 1.0 if mode == "explore" else 0
    weights["steelman"] += 0.8 if persona == "historian" else 0
    for m in recent[-2:]:
        weights[m] *= 0.35  # people repeat themselves, but less than chance would
    total = sum(weights.values())
    r = rng.random() * total
    for m, w in weights.items():
        r -= w
        if r <= 0:
            return m
    return MOVES[-1]


def pack_id(path):
    """The pack id the runtimes log in a trace's `pack` (the Python runtime's own function)."""
    sys.path.insert(0, str(ROOT.parent.parent / "runtimes" / "python" / "src"))
    import promptc_pack
    return promptc_pack.pack_id(promptc_pack.load_pack(str(path)))


def build(seed=SEED, start=datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc), span_days=80,
          n_threads=64, first_thread=0, pack=None):
    """The traffic a pack served: `n_threads` rooms from `start` over `span_days`
    (by default September 1 through November 20, served by packs/speak.json)."""
    rng = random.Random(seed)
    pack = pack or pack_id(ROOT / "packs" / "speak.json")
    lines = []
    for ti in range(first_thread, first_thread + n_threads):
        workspace = list(WORKSPACES)[ti % 4]
        topic = TOPICS[rng.randrange(len(TOPICS))]
        mode = rng.choice(["explore", "decide", "ship", "retro"] if "retro" in topic["topic"] else ["explore", "decide", "ship"])
        thread = f"th_{ti:04d}"
        t0 = start + timedelta(days=span_days * (ti - first_thread) / n_threads, hours=rng.randrange(0, 9), minutes=rng.randrange(60))
        n_turns = rng.randrange(7, 12)
        evidence = [
            {"id": f"E{i + 1}", "claim": c, "source": s, "verified": v}
            for i, (c, s, v) in enumerate(topic["evidence"])
        ]
        room_personas = rng.sample(list(PERSONAS), k=rng.randrange(4, 7))
        prior, recent = [], {p: [] for p in room_personas}
        artifact = None
        ts = t0
        for turn in range(1, n_turns + 1):
            # The floor mostly moves around; sometimes a persona answers twice in a row.
            choices = [p for p in room_personas if not prior or p != prior[-1]["speaker"] or rng.random() < 0.15]
            persona = rng.choice(choices)
            phase = "opening" if turn <= 2 else ("closing" if turn > n_turns - 2 else "middle")
            move = pick_move(rng, persona, mode, recent[persona])
            text = utterance(rng, move, persona, topic, evidence, prior, topic["questions"], mode)
            inputs = {
                "room_state": {"mode": mode, "topic": topic["topic"], "phase": phase,
                               "decision_deadline": (t0 + timedelta(days=7)).date().isoformat()},
                "persona": persona,
                "persona_brief": PERSONAS[persona],
                "prior_turns": prior[-6:],
                "open_questions": topic["questions"],
                "evidence": evidence,
                "goal": topic["goal"],
                "turn_index": turn,
                "turns_remaining": n_turns - turn,
                "recent_moves": {p: m[-3:] for p, m in recent.items() if m},
                "workspace_norms": WORKSPACES[workspace],
                "draft_artifact": artifact,
            }
            status = "ok"
            outputs = {"utterance": text, "rhetorical_move": move}
            roll = rng.random()
            if roll < 0.02:
                status = "error"
                outputs = {"utterance": ""}
            elif roll < 0.05:
                outputs["rhetorical_move"] = rng.choice(NEAR_MISS[move])
            line = {
                "id": f"{thread}-t{turn:02d}",
                "signature": "speak",
                "thread": thread,
                "workspace": workspace,
                "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "pack": pack,
                "inputs": inputs,
                "outputs": outputs,
                "status": status,
                "meta": {"model": "gpt-4o-mini-2024-07-18", "latency_ms": rng.randrange(600, 2600),
                         "input_tokens": rng.randrange(1800, 3200), "output_tokens": rng.randrange(40, 140)},
            }
            lines.append((ts, line))
            if rng.random() < 0.006:
                lines.append((ts, line))  # the logger retried the write
            if status == "ok":
                prior.append({"speaker": persona, "move": move, "text": text})
                recent[persona].append(move)
                if artifact is None and turn >= 3:
                    artifact = topic["artifact"]
            ts += timedelta(minutes=rng.randrange(1, 6), seconds=rng.randrange(60))
    lines.sort(key=lambda x: (x[0], x[1]["id"]))
    return [l for _, l in lines]


DEPLOYED_SEED = 20261201


def deployed_answer(rng, line):
    """What the deployed (optimized) pack says where the replaced one said
    `line`'s answer: in decide and ship rooms it names an owner and a date
    (the artifact judge rewards that), and in closing turns it
    sometimes declares agreement the room has not reached (the fake-consensus
    judge punishes that): better on one dimension, worse on another."""
    out = dict(line["outputs"])
    inputs = line["inputs"]
    if line["status"] != "ok":
        return out
    mode, phase = inputs["room_state"]["mode"], inputs["room_state"]["phase"]
    if mode in ("decide", "ship") and rng.random() < 0.9:
        deadline = inputs["room_state"]["decision_deadline"]
        out["utterance"] += f" Owner: the {inputs['persona']}, decision by {deadline}."
    if phase == "closing" and rng.random() < 0.35:
        out["utterance"] += " I think we all agree on this now."
    return out


def write_deployed():
    """The deployed history: December's traffic served by deployed/speak.json
    (the pack the quickstart proposes, merged), and what the replaced pack
    would have answered to the same turns (for the test that checks
    `realized` against the truth). Needs deployed/speak.json in place."""
    deployed = ROOT / "deployed"
    rng = random.Random(DEPLOYED_SEED ^ 1)
    lines = build(seed=DEPLOYED_SEED, start=datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc),
                  span_days=24, n_threads=28, first_thread=100,
                  pack=pack_id(deployed / "speak.json"))
    served, counterfactual = [], []
    for line in lines:
        counterfactual.append({"id": line["id"], "outputs": line["outputs"]})
        served.append({**line, "outputs": deployed_answer(rng, line)})
    (deployed / "traces").mkdir(parents=True, exist_ok=True)
    for name, rows in (("traces/2026-12.jsonl", served), ("counterfactual.jsonl", counterfactual)):
        with open(deployed / name, "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        print(f"{deployed / name}: {len(rows)} lines")


def write_traces():
    out = ROOT / "traces"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.jsonl"):
        old.unlink()
    by_month = {}
    for line in build():
        by_month.setdefault(line["ts"][:7], []).append(line)
    for month, lines in sorted(by_month.items()):
        with open(out / f"{month}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for line in lines:
                f.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        print(f"{out / (month + '.jsonl')}: {len(lines)} lines")


def write_malformed():
    """One file, one kind of damage per line; tests pin the message of each."""
    good = build()[0]
    g = lambda **kv: json.dumps({**good, **kv}, separators=(",", ":"))
    no = lambda key: json.dumps({k: v for k, v in good.items() if k != key}, separators=(",", ":"))
    rows = [
        b"\xef\xbb\xbf" + g(id="bom-ok").encode(),                      # 1 BOM on the first line: fine
        g(id="crlf-ok").encode() + b"\r",                                 # 2 CRLF ending: fine
        b"{\"id\": \"x\", \"thread\": ",                                  # 3 truncated
        b"this is not json",                                              # 4 invalid JSON
        b"",                                                              # 5 blank
        b"[1, 2, 3]",                                                     # 6 not an object
        no("thread").encode(),                                            # 7 missing thread
        no("outputs").encode(),                                           # 8 missing outputs
        g(id="bad-enum", outputs={"utterance": "Hi.", "rhetorical_move": "agree"}).encode(),  # 9 enum
        g(id="wrong-type", thread={"id": 5}).encode(),                    # 10 wrong-typed thread
        g(id="bad-ts", ts="last tuesday").encode(),                       # 11 bad timestamp
        b"{\"id\": \"\xff\xfe\", \"thread\": \"t\"}",                     # 12 not UTF-8
        g(id="missing-out", outputs={"utterance": "Hi."}).encode(),       # 13 missing output field
        g(id="crlf-ok").encode(),                                         # 14 duplicate id: counted once
        g(id="other-sig", signature="summarize").encode(),                # 15 another signature: skipped
        g(id="trailing", outputs={"utterance": "Hi.", "rhetorical_move": "probe"}).encode() + b" {}",  # 16 trailing data
    ]
    path = ROOT / "testdata" / "malformed.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(rows) + b"\n")
    print(f"{path}: {len(rows)} lines")


PRODUCTION_INSTRUCTIONS = """You are one persona in a working room of colleagues who are trying to reach a decision or finish an artifact together. Speak as the persona described in persona_brief, in their voice and with their expertise.

Keep it short: one to four sentences. Build on what was said in prior_turns instead of repeating it, and help the room get to its goal before turns_remaining runs out. Follow the workspace norms.

Then pick the rhetorical move that best describes what your utterance does."""


def signature_hash(sig):
    """sha256 of the signature's compact JSON, as promptc computes it (field order kept)."""
    import hashlib
    spec = {"name": sig["name"], "description": sig.get("description", ""), "inputs": {}, "outputs": {}}
    for k, v in sig["inputs"].items():
        spec["inputs"][k] = {"desc": v.get("desc", "")}
        if v.get("optional"):
            spec["inputs"][k]["optional"] = True
    for k, v in sig["outputs"].items():
        spec["outputs"][k] = {"desc": v.get("desc", "")}
        if "enum" in v:
            spec["outputs"][k]["enum"] = v["enum"]
    body = json.dumps(spec, ensure_ascii=False, separators=(",", ":")).encode()
    return spec, "sha256:" + hashlib.sha256(body).hexdigest()


def write_pack():
    """The hand-written production pack (v2). `rendered` is left for
    `promptc pack render examples/gossip/packs/speak.json --write` to fill in."""
    import yaml  # PyYAML; only needed to regenerate the pack
    sig = yaml.safe_load((ROOT / "signature.yaml").read_text())
    spec, digest = signature_hash(sig)
    by_id = {l["id"]: l for l in build()}
    demos = []
    for tid in ("th_0003-t04", "th_0009-t06"):
        l = by_id[tid]
        demos.append({"trace_id": tid, "inputs": l["inputs"], "outputs": l["outputs"]})
    pack = {
        "format": "promptc.pack/v2",
        "signature": {"hash": digest, "spec": spec},
        "instructions": PRODUCTION_INSTRUCTIONS,
        "demos": demos,
        "rendered": {"system": ""},
        "provenance": {"tool": "hand-written (product team, August 2026)",
                       "train_cutoff": "2026-11-01T00:00:00Z"},
    }
    path = ROOT / "packs" / "speak.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pack, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"{path}: written; now run promptc pack render {path} --write")


if __name__ == "__main__":
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] not in ("--pack", "--deployed")):
        sys.exit(__doc__)
    write_traces()
    write_malformed()
    if sys.argv[1:] == ["--pack"]:
        write_pack()
    if sys.argv[1:] == ["--deployed"]:
        write_deployed()
