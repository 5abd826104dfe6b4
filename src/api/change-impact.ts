import { validateSegment } from '@flagship/engine/validate';
import type { ChangeRequestRecord } from '../data/change-requests.ts';
import { getFlag, mergePatch } from '../data/flags.ts';
import { definitionOf } from '../domain/definition-of.ts';
import { getSegment, segmentDefinition } from '../data/segments.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { ImpactReport, RolloutStepImpact } from './impact-preview.ts';
import { normalizePlan, type PlanInput } from '../domain/rollout-plan.ts';

/** What a change request carries: the impact, its one line for people, and when it was computed. */
export interface ChangeImpact {
  computedAt: string;
  summary: string;
  report: ImpactReport | { steps: (RolloutStepImpact & { summary: string })[] };
}

function mergeFields(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const merged = { ...base };
  for (const [field, value] of Object.entries(patch)) {
    if (value === null) delete merged[field];
    else merged[field] = value;
  }
  return merged;
}

/**
 * The impact of a change request's change on the current flag set, over the sample: what it would
 * do if applied now. Null when it no longer applies to what is there (the flag or segment is gone
 * or the merged result is invalid: approving it would fail, and the request says why then).
 */
export async function changeRequestImpact(deps: Pick<ApiDependencies, 'db' | 'previewer'>, record: ChangeRequestRecord): Promise<ChangeImpact | null> {
  const previewer = deps.previewer;
  if (!previewer) return null;
  const computedAt = new Date().toISOString();
  const change = record.change;
  if (record.kind === 'segment-patch') {
    const segment = record.segmentKey ? await getSegment(deps.db, record.segmentKey) : null;
    if (!segment) return null;
    const validated = validateSegment(mergeFields({ ...segmentDefinition(segment) }, (change.patch ?? {}) as Record<string, unknown>));
    if (!validated.ok) return null;
    const report = await previewer.preview({ kind: 'segment', key: segment.key, segment: validated.value });
    return { computedAt, summary: report.summary, report };
  }
  const flag = await getFlag(deps.db, record.flagKey);
  if (!flag) return null;
  try {
    switch (record.kind) {
      case 'patch':
      case 'schedule': {
        const patches = record.kind === 'patch'
          ? [(change.patch ?? {}) as Record<string, unknown>]
          : ((change.scheduledChanges ?? []) as { patch: Record<string, unknown> }[]).map((scheduled) => scheduled.patch);
        const next = patches.reduce((definition, patch) => mergePatch(definition, patch), definitionOf(flag));
        const report = await previewer.preview({ kind: 'flag', key: flag.key, flag: { ...flag, ...next } });
        return { computedAt, summary: report.summary, report };
      }
      case 'archive':
      case 'restore': {
        const report = await previewer.preview({ kind: 'flag', key: flag.key, flag: record.kind === 'archive' ? null : { ...flag, state: 'active' } });
        return { computedAt, summary: report.summary, report };
      }
      case 'rollout': {
        const plan = normalizePlan(change.plan as PlanInput, flag, Date.now());
        const steps = await previewer.rolloutSteps(flag, plan.steps.map((step) => step.rollout));
        const summary = steps.map((step) => `${'percentage' in step.rollout ? `${step.rollout.percentage}%` : 'split'}: ${(Math.round(step.share * 1000) / 10).toFixed(1)}% of ${step.sampled} sampled contexts in the rollout`).join('; ');
        return { computedAt, summary: `${flag.key} plan: ${summary}`, report: { steps } };
      }
    }
  } catch (error) {
    // A change that no longer validates against the flag as it is now has no impact to show.
    if (error instanceof Error && 'code' in error && error.code === 'validation_error') return null;
    throw error;
  }
}
