import { describe, expect, it } from '@jest/globals';
import murmur from 'murmurhash-js';
import {
  bucketFor,
  compileFlagSet,
  evaluate,
  explain,
  findPrerequisiteCycle,
  type Flag,
  type FlagDefinition,
  type Segment,
} from '@flagship/engine';
import {
  checkFlagReferences,
  validateFlag,
  validateSegment,
} from '@flagship/engine/validate';
import { murmur3 } from '../../src/engine/hash.ts';
import {
  loadConformanceFiles,
  type CyclesFile,
  type EvaluationFile,
  type HashingFile,
  type ValidationFile,
} from './support/conformance-files.ts';
import { referenceBucket, referenceMurmur3, utf8Hex } from './support/reference-murmur3.ts';

const files = loadConformanceFiles();
const encoder = new TextEncoder();

/** murmurhash-js reads the low byte of each char code: hand it the UTF-8 bytes as chars. */
function bytesAsString(text: string): string {
  return String.fromCharCode(...encoder.encode(text));
}

/** Validates and "creates" every flag and segment of a file as the API would, then compiles the set. */
function loadWorld(doc: EvaluationFile) {
  const segments: Segment[] = doc.segments.map((input) => {
    const result = validateSegment(input);
    if (!result.ok) throw new Error(`segment ${JSON.stringify(input)} is invalid: ${JSON.stringify(result.issues)}`);
    return result.value;
  });
  const definitions: FlagDefinition[] = doc.flags.map((input) => {
    const result = validateFlag(input);
    if (!result.ok) throw new Error(`flag ${JSON.stringify(input)} is invalid: ${JSON.stringify(result.issues)}`);
    return result.value;
  });
  const created = new Map<string, Flag>();
  const segmentKeys = new Set(segments.map((s) => s.key));
  for (const definition of definitions) {
    // Flags are listed so that prerequisites exist before the flags that need them.
    const issues = checkFlagReferences(definition, { flags: created, segments: segmentKeys });
    if (issues.length > 0) throw new Error(`flag ${definition.key} has bad references: ${JSON.stringify(issues)}`);
    if (findPrerequisiteCycle(created, definition) !== null) throw new Error(`flag ${definition.key} closes a cycle`);
    created.set(definition.key, { ...definition, state: 'active', version: 1 });
  }
  for (const key of doc.archived) {
    const flag = created.get(key);
    if (flag === undefined) throw new Error(`archived flag ${key} is not in the file`);
    created.set(key, { ...flag, state: 'archived', version: flag.version + 1 });
  }
  return compileFlagSet({ flags: [...created.values()], segments, killswitches: new Set(doc.killswitches) });
}

describe('conformance files', () => {
  it('are all of a known kind and use keys no other file uses (so the API can load them into one project)', () => {
    const kinds = new Set(['evaluation', 'hashing', 'validation', 'prerequisite-cycles']);
    const owner = new Map<string, string>();
    for (const { file, doc } of files) {
      expect(kinds.has(doc.kind)).toBe(true);
      if (doc.kind !== 'evaluation') continue;
      const keys = [...doc.flags, ...doc.segments].map((x) => (x as { key: string }).key);
      for (const key of [...keys, ...doc.killswitches]) {
        expect(`${key} in ${owner.get(key) ?? file}`).toBe(`${key} in ${file}`);
        owner.set(key, file);
      }
    }
    expect(files.filter((f) => f.doc.kind === 'evaluation').length).toBeGreaterThanOrEqual(5);
  });
});

for (const { file, doc } of files) {
  if (doc.kind === 'evaluation') {
    describe(`${file}: ${doc.description.slice(0, 60)}…`, () => {
      const set = loadWorld(doc);
      it.each(doc.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
        const result = evaluate(set, c.flagKey, c.context);
        if (c.expected === null) {
          expect(result).toBeUndefined();
          expect(explain(set, c.flagKey, c.context)).toBeUndefined();
          return;
        }
        expect(result).toEqual(c.expected);
        // The exact key set matters for the wire format: no undefined-valued extras.
        expect(Object.keys(result!).sort()).toEqual(Object.keys(c.expected).sort());
        // Explain walks to the very same result, and its condition-by-condition verdict on each rule it
        // tried agrees with the compiled (fast) predicate of that rule.
        const explanation = explain(set, c.flagKey, c.context)!;
        expect(explanation.result).toBe(result);
        for (const step of explanation.steps) {
          if (step.step !== 'rule') continue;
          const rule = set.get(c.flagKey)!.rules.find((r) => r.id === step.ruleId)!;
          expect(`${step.ruleId}: ${rule.holds(c.context)}`).toBe(`${step.ruleId}: ${step.matched}`);
        }
        if (c.bucket !== undefined) {
          expect(referenceBucket(c.bucket.salt, c.bucket.identity)).toBe(c.bucket.value);
          expect(bucketFor(c.bucket.salt, c.bucket.identity)).toBe(c.bucket.value);
        }
      });
    });
  }

  if (doc.kind === 'hashing') {
    describe(`${file}: golden hashes`, () => {
      const hashing: HashingFile = doc;
      it.each(hashing.anchors.map((a) => [JSON.stringify(a.text), a] as const))('published anchor %s', (_name, anchor) => {
        expect(referenceMurmur3(encoder.encode(anchor.text))).toBe(anchor.murmur3);
        expect(anchor.murmur3.toString(16).padStart(8, '0')).toBe(anchor.hex);
        expect(murmur3(anchor.text)).toBe(anchor.murmur3);
        expect(murmur.murmur3(bytesAsString(anchor.text), 0)).toBe(anchor.murmur3);
      });
      it.each(hashing.cases.map((c) => [c.note, c] as const))('%s', (_name, c) => {
        const text = `${c.salt}.${c.identity}`;
        expect(utf8Hex(text)).toBe(c.utf8);
        // Three implementations agree: the independent reference, murmurhash-js over UTF-8 bytes, the engine.
        expect(referenceMurmur3(encoder.encode(text))).toBe(c.murmur3);
        expect(murmur.murmur3(bytesAsString(text), 0)).toBe(c.murmur3);
        expect(murmur3(text)).toBe(c.murmur3);
        expect(c.murmur3 % 100_000).toBe(c.bucket);
        expect(bucketFor(c.salt, c.identity)).toBe(c.bucket);
      });
    });
  }

  if (doc.kind === 'validation') {
    describe(`${file}: validation`, () => {
      const validation: ValidationFile = doc;
      it.each(validation.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
        const result = c.kind === 'flag' ? validateFlag(c.input) : validateSegment(c.input);
        if (c.valid) {
          expect(result.ok ? [] : result.issues).toEqual([]);
          if (result.ok && c.normalized !== undefined) expect(result.value).toEqual(c.normalized);
          return;
        }
        expect(result.ok).toBe(false);
        if (result.ok) return;
        expect([...new Set(result.issues.map((i) => i.path))].sort()).toEqual([...(c.issuePaths ?? [])].sort());
        for (const issue of result.issues) expect(issue.message.length).toBeGreaterThan(5);
      });
    });
  }

  if (doc.kind === 'prerequisite-cycles') {
    describe(`${file}: prerequisite cycles`, () => {
      const cycles: CyclesFile = doc;
      const world = new Map(cycles.flags.map((f) => [f.key, f]));
      it.each(cycles.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
        expect(findPrerequisiteCycle(world, c.changed)).toEqual(c.cycle);
      });
    });
  }
}
