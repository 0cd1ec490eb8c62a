#!/usr/bin/env python3
"""Cut the part of GitHub's REST OpenAPI description that promptc calls.

The fake GitHub in tests/common/fake_github.rs checks every request it gets
against tests/data/github-openapi-subset.json. Regenerate it with:

    npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz
    python3 scripts/github_openapi_subset.py package > tests/data/github-openapi-subset.json

Every method GitHub documents on each path is kept, so a request with a method
GitHub does not document there (octocrab's POST for a comment update) fails.
"""

import json
import sys

PATHS = [
    "/repos/{owner}/{repo}/pulls",
    "/repos/{owner}/{repo}/pulls/{pull_number}",
    "/repos/{owner}/{repo}/issues/{issue_number}/labels",
    "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers",
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    "/repos/{owner}/{repo}/issues/comments/{comment_id}",
]


def strip(s):
    if isinstance(s, dict):
        return {k: strip(v) for k, v in s.items() if k not in ("description", "examples", "example", "title")}
    if isinstance(s, list):
        return [strip(x) for x in s]
    return s


def main():
    pkg = sys.argv[1]
    version = json.load(open(f"{pkg}/package.json"))["version"]
    spec = json.load(open(f"{pkg}/generated/api.github.com.deref.json"))
    out = {
        "x-origin": f"Subset of api.github.com.deref.json from the npm package @octokit/openapi {version} "
        "(GitHub's published REST OpenAPI description), cut by scripts/github_openapi_subset.py: only the "
        "paths promptc calls, descriptions and examples dropped, responses dropped.",
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "paths": {},
    }
    for p in PATHS:
        item = {}
        for method, op in spec["paths"][p].items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            o = {"operationId": op["operationId"], "parameters": [strip(x) for x in op.get("parameters", [])]}
            rb = op.get("requestBody")
            if rb:
                schema = rb["content"]["application/json"]["schema"]
                o["requestBody"] = {
                    "required": rb.get("required", False),
                    "content": {"application/json": {"schema": strip(schema)}},
                }
            item[method] = o
        out["paths"][p] = item
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
