"""DSPy's MIPROv2 on promptc's example, against promptc's simulator server.

Run by `cargo bench --bench side_by_side` (see scripts/side-by-side.sh), which
starts the server, writes the same train and val examples promptc optimizes on,
and reads the one JSON line this script prints.

So that the simulator can play DSPy's models as it plays promptc's, the
adapter below speaks promptc's `sections` format: the system message and the
user message are rendered from promptc's own adapter templates
(prompts/adapter/*.md.j2), answers are read back from `=== field ===`
sections, and DSPy's instruction proposer is shown its current instruction
under the name promptc's proposer uses. The metric asks the example's judges
(the same templates, one call each, in turn, as a DSPy metric does) and
weighs their scores as metric.yaml does; the trace-derived dimensions are
left out, their weights renormalised.
"""

import argparse
import json
import pathlib
import re
import sys
import time

import dspy
import jinja2
import yaml

# DSPy's proposer fields under the names of promptc's proposer pack.
RENAMES = {"proposed_instruction": "instruction", "basic_instruction": "current_instruction"}
BACK = {v: k for k, v in RENAMES.items()}
HEADER = re.compile(r"^=== (.+?) ===[ \t]*$", re.M)


def render_value(v):
    """A field's value as promptc renders it: strings as they are, null as
    `(none)`, anything else as compact JSON."""
    if v is None:
        return "(none)"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


class Sections(dspy.Adapter):
    """promptc's `sections` adapter, for DSPy."""

    def __init__(self, templates, description, enums):
        super().__init__()
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), keep_trailing_newline=False)
        self.system = env.get_template("system.md.j2")
        self.user = env.get_template("user.md.j2")
        self.description = description
        self.enums = enums

    def fields(self, fields):
        return [
            {
                "name": RENAMES.get(name, name),
                "desc": f.json_schema_extra.get("desc", "") if f.json_schema_extra else "",
                "optional": False,
                "enum": self.enums.get(name),
            }
            for name, f in fields.items()
        ]

    def values(self, fields, values):
        return [
            {"name": RENAMES.get(name, name), "value": render_value(values.get(name))}
            for name in fields
        ]

    def format(self, signature, demos, inputs):
        task = set(signature.output_fields) == set(self.enums) | {"utterance"}
        demo_ctx = [
            {
                "inputs": self.values(signature.input_fields, d),
                "outputs": self.values(signature.output_fields, d),
            }
            for d in demos
            if all(k in d for k in signature.output_fields)
        ]
        system = self.system.render(
            description=self.description if task else None,
            inputs=self.fields(signature.input_fields),
            outputs=self.fields(signature.output_fields),
            instructions=signature.instructions,
            demos=demo_ctx,
        )
        user = self.user.render(
            inputs=self.values(signature.input_fields, inputs),
            outputs=self.fields(signature.output_fields),
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def parse(self, signature, completion):
        found = {}
        marks = list(HEADER.finditer(completion))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(completion)
            name = BACK.get(m.group(1), m.group(1))
            if name != "end":
                found.setdefault(name, completion[m.end():end].strip())
        outputs = list(signature.output_fields)
        if len(outputs) == 1 and outputs[0] not in found:
            # A one-field answer without its header is that field.
            found[outputs[0]] = completion.replace("=== end ===", "").strip()
        missing = [k for k in outputs if k not in found]
        if missing:
            raise ValueError(f"no section for {missing}")
        return {k: found[k] for k in outputs}


def judge_score(text):
    """The score of a judge answer: one JSON object with `score` in 0..1."""
    m = re.search(r"\{.*\}", text, re.S)
    if not m:
        raise ValueError("no JSON object")
    return float(json.loads(m.group(0))["score"])


def make_metric(repo, metric_cfg, signature, judge_lm):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(repo)))
    judges = [
        (env.get_template(d["judge"]), float(d["weight"]), bool(d.get("invert", False)))
        for d in metric_cfg["dimensions"].values()
        if "judge" in d
    ]
    total = sum(w for _, w, _ in judges)
    sig = {"name": signature["name"], "description": signature["description"]}

    def metric(example, pred, trace=None, *args, **kwargs):
        inputs = {k: example[k] for k in signature["inputs"]}
        reference = {k: example[k] for k in signature["outputs"]}
        prediction = {k: getattr(pred, k, None) for k in signature["outputs"]}
        score = 0.0
        for tmpl, weight, invert in judges:
            prompt = tmpl.render(inputs=inputs, reference=reference, prediction=prediction, signature=sig)
            try:
                s = judge_score(judge_lm(messages=[{"role": "user", "content": prompt}])[0])
            except Exception:
                s = 0.0
            score += weight * ((1.0 - s) if invert else s)
        return score / total

    return metric


def examples(path, signature):
    out = []
    for line in open(path, encoding="utf-8"):
        t = json.loads(line)
        ex = dspy.Example(**t["inputs"], **t["outputs"]).with_inputs(*signature["inputs"])
        out.append(ex)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True, help="the simulator server, http://127.0.0.1:PORT")
    p.add_argument("--repo", required=True, help="the example repository (promptc.yaml's folder)")
    p.add_argument("--templates", required=True, help="promptc's prompts/adapter folder")
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--instructions", required=True, help="today's pack's instructions, in a file")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--candidates", type=int, default=10)
    p.add_argument("--trials", type=int, default=25)
    p.add_argument("--minibatch", type=int, default=35)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()

    repo = pathlib.Path(a.repo)
    signature = yaml.safe_load(open(repo / "signature.yaml", encoding="utf-8"))
    metric_cfg = yaml.safe_load(open(repo / "metric.yaml", encoding="utf-8"))
    enums = {k: v["enum"] for k, v in signature["outputs"].items() if v.get("enum")}

    def lm(model, temperature):
        # DSPy's own cache off: every run starts cold, as promptc's does.
        return dspy.LM(
            f"openai/{model}", api_base=f"{a.url}/v1", api_key="sim",
            cache=False, temperature=temperature, max_tokens=1024, num_retries=3,
        )

    task_lm, judge_lm, proposer_lm = lm("sim-task", 0.0), lm("sim-judge", 0.0), lm("sim-proposer", 1.0)
    fields = {}
    for name, f in signature["inputs"].items():
        fields[name] = (str, dspy.InputField(desc=f.get("desc", "")))
    for name, f in signature["outputs"].items():
        fields[name] = (str, dspy.OutputField(desc=f.get("desc", "")))
    instructions = pathlib.Path(a.instructions).read_text(encoding="utf-8")
    Speak = dspy.make_signature(fields, instructions, signature["name"])
    dspy.configure(lm=task_lm, adapter=Sections(a.templates, signature.get("description"), enums))

    program = dspy.Predict(Speak)
    train, val = examples(a.train, signature), examples(a.val, signature)
    metric = make_metric(repo, metric_cfg, signature, judge_lm)
    start = time.perf_counter()
    tp = dspy.MIPROv2(
        metric=metric, prompt_model=proposer_lm, task_model=task_lm, auto=None,
        num_candidates=a.candidates, num_threads=a.threads, seed=a.seed, verbose=False,
    )
    compiled = tp.compile(
        program, trainset=train, valset=val, num_trials=a.trials,
        minibatch=True, minibatch_size=a.minibatch, minibatch_full_eval_steps=5,
    )
    wall = time.perf_counter() - start
    best = getattr(compiled, "score", None)
    print(json.dumps({
        "wall_secs": wall,
        # MIPROv2 reports its best full-val score on 0..100.
        "best_val": None if best is None else float(best),
        "instructions": compiled.signature.instructions,
        "demos": len(compiled.demos),
    }))


if __name__ == "__main__":
    sys.exit(main())
