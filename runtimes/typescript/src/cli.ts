#!/usr/bin/env node
/**
 * `promptc-pack render PACK INPUTS.json [--persona P]` | `promptc-pack parse PACK ANSWER.txt`.
 *
 * Prints one JSON object: `{"messages": [...]}`, `{"outputs": {...}}`, or `{"error": "..."}`
 * with exit 1. For conformance checks from outside a test framework and for people debugging
 * a server.
 */

import { readFileSync } from "node:fs";
import { loadPack, parse, render } from "./index.js";

function main(argv: string[]): number {
  const [command, packPath, file, ...rest] = argv;
  if ((command !== "render" && command !== "parse") || !packPath || !file) {
    process.stderr.write("usage: promptc-pack render PACK INPUTS.json [--persona P] | parse PACK ANSWER.txt\n");
    return 2;
  }
  try {
    const pack = loadPack(packPath);
    let out: unknown;
    if (command === "render") {
      const at = rest.indexOf("--persona");
      const persona = at >= 0 ? rest[at + 1] : undefined;
      const inputs: unknown = JSON.parse(readFileSync(file, "utf8"));
      if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) {
        throw new Error(`${file}: not a JSON object of input fields`);
      }
      out = { messages: render(pack, inputs as Record<string, unknown>, { persona }) };
    } else {
      out = { outputs: parse(pack, readFileSync(file, "utf8")) };
    }
    process.stdout.write(JSON.stringify(out) + "\n");
    return 0;
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: (e as Error).message }) + "\n");
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
