import type { Context } from 'koa';
import { z } from 'zod';
import { type FlagDefinition, type SegmentDefinition } from '@flagship/engine';
import { lintFlag, lintSegment, type LintWarning } from '@flagship/engine/validate';
import { diffJson } from '../data/json-diff.ts';
import { ApprovalNeeded } from './change-control.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { ImpactReport, ProposedChange } from './impact-preview.ts';

/** The query parameter every write that changes evaluation accepts (docs/impact-preview.md#dry-runs). */
export const dryRunQuery = {
  dryRun: z.enum(['true', 'false']).optional().describe('true: run every check of the write and answer what it would write, the diff, warnings and impact; nothing is written.'),
};

export const dryRunResponse = {
  description: 'dryRun=true: { dryRun, wouldWrite, diff, approvalRequired, warnings, impact }; nothing was written.',
  schema: z.object({
    dryRun: z.literal(true),
    wouldWrite: z.unknown(),
    diff: z.array(z.unknown()),
    approvalRequired: z.object({ reason: z.string() }).nullable(),
    warnings: z.array(z.object({ code: z.string(), path: z.string(), message: z.string() })),
    impact: z.unknown(),
  }),
};

/** A 200 answer that is the write's own, or the dry run's when dryRun=true: the document names both. */
export function orDryRun<Schema extends z.ZodType>(schema: Schema) {
  return z.union([schema, dryRunResponse.schema]);
}

/** A guard as the write functions take it: it throws ApprovalNeeded when the change needs a second person. */
type Guard<Args extends unknown[]> = (...args: Args) => void | Promise<void>;

/**
 * A dry run's stand-in for an approval guard: the real guard runs (so its reading of the flag, its
 * reach, all of it, is the write's), and a change that would become a change request is noted
 * instead of refused, so the dry run goes on to show what approving it would write.
 */
export function notingApproval<Args extends unknown[]>(guard: Guard<Args>): { guard: Guard<Args>; approval: () => { reason: string } | null } {
  let approval: { reason: string } | null = null;
  return {
    guard: async (...args: Args) => {
      try {
        await guard(...args);
      } catch (error) {
        if (!(error instanceof ApprovalNeeded)) throw error;
        approval = { reason: error.message };
      }
    },
    approval: () => approval,
  };
}

/** The linter's findings on a flag as this process judges them (its sample's attributes included). */
export function flagWarnings(deps: ApiDependencies, definition: FlagDefinition): LintWarning[] {
  return lintFlag(definition, deps.sampler ? { sampledAttributes: deps.sampler.attributesSeen } : {});
}

/** The linter's findings on a segment, judged against the live flag set's users of it. */
export function segmentWarnings(deps: ApiDependencies, definition: SegmentDefinition): LintWarning[] {
  const users = [...deps.flagSet.current.flags.values()].filter((compiled) => compiled.flag.rules.some((rule) => rule.conditions.some((condition) => 'segment' in condition && condition.segment === definition.key)));
  return lintSegment(definition, users.map((compiled) => compiled.key));
}

/** The impact of a change, or why there is none (previews off on this process). */
export async function impactOf(deps: ApiDependencies, change: ProposedChange): Promise<ImpactReport | null> {
  return deps.previewer ? deps.previewer.preview(change) : null;
}

/** Answers a dry run: 200 with what the write would have written; the write itself was rolled back or never begun. */
export function answerDryRun(
  ctx: Context,
  answer: { before: unknown; after: unknown; wouldWrite: unknown; approvalRequired: { reason: string } | null; warnings: LintWarning[]; impact: unknown },
): void {
  ctx.status = 200;
  ctx.body = {
    dryRun: true,
    wouldWrite: answer.wouldWrite,
    diff: diffJson(answer.before ?? null, answer.after ?? null),
    approvalRequired: answer.approvalRequired,
    warnings: answer.warnings,
    impact: answer.impact,
  };
}

/** A real write's answer body: what it answered before, with the linter's warnings when there are any. */
export function withWarnings<T extends object>(body: T, warnings: readonly LintWarning[]): T | (T & { warnings: readonly LintWarning[] }) {
  return warnings.length === 0 ? body : { ...body, warnings };
}

