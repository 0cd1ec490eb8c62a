/**
 * Serve a promptc pack: render exactly what promptc scored, read the answer, log the trace.
 *
 * Every function here follows promptc's own renderer and parser (`src/adapter` in promptc);
 * the conformance fixtures in `runtimes/fixtures` are generated from them, and this package's
 * tests assert byte equality against every one.
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/** The pack formats this runtime reads. */
export const FORMATS = ["promptc.pack/v1", "promptc.pack/v2", "promptc.pack/v3"] as const;

/** A pack's declared format. */
export type PackFormat = (typeof FORMATS)[number];

/** One field of a signature. */
export interface FieldSpec {
  desc?: string;
  optional?: boolean;
  enum?: string[];
}

/** The signature a v2 or v3 pack embeds. */
export interface SignatureSpec {
  name: string;
  description?: string;
  inputs: Record<string, FieldSpec>;
  outputs: Record<string, FieldSpec>;
}

/** A pack as promptc writes it (the fields a server needs are typed). */
export interface Pack {
  format: PackFormat;
  signature: { hash: string; spec: SignatureSpec } | string;
  adapter?: "sections" | "json";
  rendered?: { system: string; personas?: Record<string, string> };
  demos?: { trace_id: string; inputs: Record<string, unknown>; outputs: Record<string, unknown> }[];
  voices?: Record<string, string>;
  [key: string]: unknown;
}

/** One chat message. */
export interface Message {
  role: "system" | "user" | "assistant";
  content: string;
}

/** The pack cannot be served: an unknown format, a stale signature hash, a bad demo. */
export class PackError extends Error {
  override name = "PackError";
}

/** Why an answer could not be read: `missing`, `bad_enum` or `unstructured`. */
export type ParseErrorKind = "missing" | "bad_enum" | "unstructured";

/** The model's answer cannot be read as the signature's outputs; `message` is promptc's. */
export class ParseError extends Error {
  override name = "ParseError";
  constructor(
    readonly kind: ParseErrorKind,
    message: string,
  ) {
    super(message);
  }
}

const sha256 = (text: string): string =>
  "sha256:" + createHash("sha256").update(text, "utf8").digest("hex");

/** Loads and validates a pack from a path or from parsed JSON. */
export function loadPack(source: string | Pack): Pack {
  let pack: unknown = source;
  let where = "pack";
  if (typeof source === "string") {
    where = source;
    try {
      pack = JSON.parse(readFileSync(source, "utf8"));
    } catch (e) {
      throw new PackError(`${where}: ${(e as Error).message}`);
    }
  }
  if (typeof pack !== "object" || pack === null || Array.isArray(pack)) {
    throw new PackError(`${where}: a pack is a JSON object`);
  }
  const p = pack as Pack;
  if (!(FORMATS as readonly string[]).includes(p.format)) {
    throw new PackError(
      `${where}: unknown pack format \`${String(p.format)}\`; this runtime reads ${FORMATS.join(", ")}`,
    );
  }
  if (p.format === "promptc.pack/v1") return p;
  const sig = p.signature;
  if (typeof sig !== "object" || typeof sig.spec !== "object") {
    throw new PackError(`${where}: signature.spec is missing`);
  }
  const digest = sha256(JSON.stringify(sig.spec));
  if (digest !== sig.hash) {
    throw new PackError(
      `${where}: signature.hash is ${sig.hash} but the embedded signature hashes to ${digest}; re-render the pack with \`promptc pack render --write\``,
    );
  }
  for (const demo of p.demos ?? []) {
    for (const [name, out] of Object.entries(sig.spec.outputs)) {
      const value = demo.outputs[name];
      if (out.enum && !out.enum.includes(value as string)) {
        throw new PackError(
          `${where}: demo ${demo.trace_id}: outputs.${name} is \`${String(value)}\`, not one of ${out.enum.join(", ")}`,
        );
      }
    }
  }
  if (typeof p.rendered?.system !== "string") {
    throw new PackError(`${where}: rendered.system is missing`);
  }
  return p;
}

/** The pack's id, as promptc defines it (see "Pack id" in promptc's README). */
export function packId(pack: Pack): string {
  if (pack.format === "promptc.pack/v1") {
    return sha256(JSON.stringify({ format: pack.format, signature: pack.signature, voices: pack.voices }));
  }
  const r = pack.rendered!;
  const rendered: Record<string, unknown> = { system: r.system };
  if (r.personas != null) rendered.personas = r.personas;
  return sha256(
    JSON.stringify({
      format: pack.format,
      adapter: pack.adapter ?? "sections",
      signature: (pack.signature as { hash: string }).hash,
      rendered,
    }),
  );
}

function spec(pack: Pack): SignatureSpec {
  if (pack.format === "promptc.pack/v1" || typeof pack.signature !== "object") {
    throw new PackError("a promptc.pack/v1 pack holds persona voices only; there is no prompt");
  }
  return pack.signature.spec;
}

/** Code-point order, as promptc sorts object keys. */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}

/** Compact JSON with object keys sorted, as promptc writes a non-string value. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort(byCodePoint);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(obj[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** An input value as the model sees it: strings as they are, others as compact JSON. */
export function renderValue(value: unknown): string {
  if (value === undefined || value === null) return "(none)";
  if (typeof value === "string") return value;
  return sortedJson(value);
}

/** Options of {@link render}. */
export interface RenderOptions {
  /** A v3 pack's persona: its own system message when it has one. */
  persona?: string | null;
}

/** The system and user messages promptc sends for these inputs. */
export function render(pack: Pack, inputs: Record<string, unknown>, options: RenderOptions = {}): Message[] {
  const s = spec(pack);
  const rendered = pack.rendered!;
  const persona = options.persona;
  const system =
    persona != null && rendered.personas && Object.hasOwn(rendered.personas, persona)
      ? rendered.personas[persona]!
      : rendered.system;
  let user = "";
  for (const name of Object.keys(s.inputs)) {
    user += `=== ${name} ===\n${renderValue(inputs[name])}\n\n`;
  }
  const outputs = Object.keys(s.outputs);
  if ((pack.adapter ?? "sections") === "json") {
    user += `Answer with one JSON object with the keys ${outputs.map((o) => `\`${o}\``).join(", ")}.`;
  } else {
    user += `Answer with ${outputs.map((o) => `\`=== ${o} ===\``).join(", ")}, then \`=== end ===\`.`;
  }
  return [
    { role: "system", content: system },
    { role: "user", content: user.trimEnd() },
  ];
}

/** The JSON Schema of the answer under the `json` adapter (the provider's structured output). */
export function answerSchema(pack: Pack): Record<string, unknown> {
  const s = spec(pack);
  const properties: Record<string, unknown> = {};
  for (const [name, out] of Object.entries(s.outputs)) {
    const p: Record<string, unknown> = { type: "string" };
    if (out.desc) p.description = out.desc;
    if (out.enum) p.enum = out.enum;
    properties[name] = p;
  }
  return { type: "object", properties, required: Object.keys(s.outputs), additionalProperties: false };
}

function exampleAnswer(s: SignatureSpec): string {
  const parts = Object.entries(s.outputs).map(([name, out]) => {
    const hint = out.enum ? `<one of: ${out.enum.join(", ")}>` : `<${name}>`;
    return `${JSON.stringify(name)}: ${JSON.stringify(hint)}`;
  });
  return `{${parts.join(", ")}}`;
}

/** The follow-up promptc sends once when an answer could not be read. */
export function reminder(pack: Pack, error: ParseError): string {
  const s = spec(pack);
  const head = `Your previous answer could not be read: ${error.message}\n\n`;
  if ((pack.adapter ?? "sections") === "json") {
    return (head + "Answer again with one JSON object and nothing else, every key present:\n\n" + exampleAnswer(s)).trimEnd();
  }
  let body = "Answer again using exactly this layout, with every field present:\n\n";
  for (const [name, out] of Object.entries(s.outputs)) {
    const hint = out.enum ? `<one of: ${out.enum.join(", ")}>` : `<${name}>`;
    body += `=== ${name} ===\n${hint}\n\n`;
  }
  return (head + body + "=== end ===").trimEnd();
}

/** The conversation for promptc's one re-ask: the answer, then the reminder. */
export function reask(pack: Pack, messages: Message[], answer: string, error: ParseError): Message[] {
  return [...messages, { role: "assistant", content: answer }, { role: "user", content: reminder(pack, error) }];
}

const ALNUM = /[\p{Alphabetic}\p{Nd}\p{Nl}\p{No}]/u;

function normalize(s: string): string {
  let out = "";
  let pending = false;
  for (const c of s.trim()) {
    if (ALNUM.test(c)) {
      if (pending && out) out += "-";
      pending = false;
      out += c.toLowerCase();
    } else {
      pending = true;
    }
  }
  return out;
}

function matchEnum(values: string[], value: string): string | undefined {
  if (values.includes(value)) return value;
  const key = normalize(value);
  return values.find((v) => normalize(v) === key);
}

function truncate(s: string): string {
  const chars = Array.from(s);
  return chars.length <= 80 ? s : chars.slice(0, 80).join("") + "…";
}

/** As Rust's `str::lines`: split at `\n`, drop a `\r` only before a `\n`, no empty last line. */
function lines(text: string): string[] {
  const parts = text.split("\n");
  const last = parts.pop()!;
  const out = parts.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (last) out.push(last);
  return out;
}

function header(line: string): string | undefined {
  const t = line.trim();
  if (!t.startsWith("==")) return undefined;
  let inner = t.slice(2).replace(/^=+/, "");
  if (!inner.endsWith("==")) return undefined;
  inner = inner.slice(0, -2).replace(/=+$/, "");
  const key = normalize(inner);
  return key || undefined;
}

type Found = [string, unknown][];

function parseHeaders(s: SignatureSpec, text: string): Found | undefined {
  const names = Object.keys(s.outputs).map((n) => [normalize(n), n] as const);
  const found: Found = [];
  let current: [string, string[]] | undefined;
  let any = false;
  const flush = (cur: [string, string[]] | undefined) => {
    if (cur && !found.some(([n]) => n === cur[0])) found.push([cur[0], cur[1].join("\n").trim()]);
  };
  for (const line of lines(text)) {
    const key = header(line);
    if (key !== undefined) {
      any = true;
      flush(current);
      current = undefined;
      if (key === "end") break;
      const hit = names.find(([k]) => k === key);
      current = hit ? [hit[1], []] : undefined;
      continue;
    }
    current?.[1].push(line);
  }
  flush(current);
  return any ? found : undefined;
}

function parseJson(s: SignatureSpec, text: string): Found | undefined {
  let t = text.trim();
  for (const fence of ["```json", "```"]) {
    if (t.startsWith(fence)) {
      t = t.slice(fence.length).trimEnd().replace(/`+$/, "");
      break;
    }
  }
  const start = t.indexOf("{");
  const end = t.lastIndexOf("}");
  if (start < 0 || end < start) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(t.slice(start, end + 1));
  } catch {
    return undefined;
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return undefined;
  const found: Found = [];
  // promptc reads the object's keys in sorted order.
  for (const k of Object.keys(obj).sort(byCodePoint)) {
    const key = normalize(k);
    const name = Object.keys(s.outputs).find((n) => normalize(n) === key);
    if (name !== undefined) found.push([name, (obj as Record<string, unknown>)[k]]);
  }
  return found;
}

/** The signature's outputs in the model's answer, read as promptc reads them. */
export function parse(pack: Pack, text: string): Record<string, unknown> {
  const s = spec(pack);
  const names = Object.keys(s.outputs);
  let found = parseHeaders(s, text) ?? parseJson(s, text);
  if (!found && names.length === 1 && text.trim()) found = [[names[0]!, text.trim()]];
  if (!found) {
    throw new ParseError("unstructured", "the answer has none of the `=== field ===` headers and is not a JSON object");
  }
  const out: Record<string, unknown> = {};
  const missing: string[] = [];
  for (const [name, field] of Object.entries(s.outputs)) {
    const hit = found.find(([n]) => n === name);
    if (!hit) {
      missing.push(name);
      continue;
    }
    let value = hit[1];
    if (field.enum) {
      const v = renderValue(value);
      const canon = matchEnum(field.enum, v);
      if (canon === undefined) {
        throw new ParseError("bad_enum", `\`${name}\` is \`${truncate(v)}\`, which is not one of ${field.enum.join(", ")}`);
      }
      value = canon;
    } else if (typeof value === "string" && !value.trim()) {
      missing.push(name);
      continue;
    }
    out[name] = value;
  }
  if (missing.length) throw new ParseError("missing", `missing output field(s): ${missing.join(", ")}`);
  return out;
}

/**
 * Where a thread falls in [0, 1) for a rollout: the first eight bytes of the sha256 of its
 * id (UTF-8), big-endian, over 2^64 — what promptc's `realized` assumes.
 */
export function rolloutPoint(thread: string): number {
  const digest = createHash("sha256").update(thread, "utf8").digest();
  return Number(digest.readBigUInt64BE(0)) / 2 ** 64;
}

/** Whether a rollout of `share` (0..1) serves the candidate to `thread`. */
export function servesCandidate(thread: string, share: number): boolean {
  return rolloutPoint(thread) < share;
}

/** The pack to serve `thread` while a candidate is rolled out to `share` of threads. */
export function choosePack(thread: string, rollout: { current: Pack; candidate: Pack; share: number }): Pack {
  return servesCandidate(thread, rollout.share) ? rollout.candidate : rollout.current;
}

/** What a trace line records about one call. */
export interface TraceCall {
  inputs: Record<string, unknown>;
  /** `null` for a failed call (logged as `{}` with a non-ok status). */
  outputs: Record<string, unknown> | null;
  thread: string;
  workspace?: string;
  ts?: Date;
  status?: string;
  meta?: Record<string, unknown>;
}

/** One line of promptc's trace format for a call served with this pack (no newline). */
export function traceLine(pack: Pack, call: TraceCall): string {
  const line: Record<string, unknown> = {
    signature: spec(pack).name,
    thread: call.thread,
    ts: (call.ts ?? new Date()).toISOString(),
    pack: packId(pack),
    inputs: call.inputs,
    outputs: call.outputs ?? {},
    status: call.status ?? "ok",
  };
  if (call.workspace !== undefined) line.workspace = call.workspace;
  if (call.meta !== undefined) line.meta = call.meta;
  return JSON.stringify(line);
}
