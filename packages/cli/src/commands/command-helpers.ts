import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { filedChange, type ApiAnswer } from '../api-client.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import type { Session } from '../session.ts';

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A value typed on the command line: JSON when it parses as JSON, else the text itself. */
export function looseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Reads a YAML or JSON file (or stdin for "-") as a mapping. */
export function readMapping(path: string): Record<string, unknown> {
  const text = readFileSync(path === '-' ? 0 : path, 'utf8');
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new CliError(`${path}: not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError(`${path} must hold a mapping`);
  return parsed as Record<string, unknown>;
}

/** `a.b=1` pairs into a nested object; values are JSON when they parse, text otherwise. */
export function assignments(pairs: string[], option: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw usageError(`${option} takes path=value, not "${pair}"`);
    const path = pair.slice(0, at).split('.');
    let target = result;
    for (const part of path.slice(0, -1)) {
      const next = target[part];
      target = (next && typeof next === 'object' ? next : (target[part] = {})) as Record<string, unknown>;
    }
    target[path.at(-1)!] = looseValue(pair.slice(at + 1));
  }
  return result;
}

/**
 * Says what became of a write: a 202 means a high-impact change was filed as a change request, not
 * applied. The command then exits 4 (approval pending) after printing the request.
 */
export function reportFiled(session: Session, answer: ApiAnswer<unknown>): boolean {
  const filed = filedChange(answer);
  if (!filed) return false;
  session.terminal.note(`High-impact flag ${filed.flagKey}: change request ${filed.id} filed; it waits for a second person with feature_flag:approve (expires ${filed.expiresAt}).`);
  session.terminal.note(`Approve with: flagship changes approve ${filed.id}`);
  session.exitCode = EXIT.approvalPending;
  return true;
}

export function pathKey(key: string): string {
  return encodeURIComponent(key);
}
