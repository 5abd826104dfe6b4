import { Option, type Command } from 'commander';
import { usageError } from '../exit-codes.ts';
import { cell, printResult } from '../output.ts';
import type { Session } from '../session.ts';
import { collect, pathKey, readMapping, reportFiled } from './command-helpers.ts';

interface RolloutStep {
  index: number;
  percentage?: number;
  distribution?: unknown;
  plannedAt: string;
  dueAt: string | null;
  appliedAt: string | null;
}

interface Rollout {
  id: string;
  flagKey: string;
  state: string;
  percentage: number | null;
  currentStep: number;
  steps: RolloutStep[];
  pause: { cause: string; by: string | null; reason: string | null } | null;
  startedBy: string;
  reason: string | null;
  links?: { temporalUi?: string };
}

/** `25@10m` (25 % ten minutes after the previous step) or `100@2025-06-03T14:00:00Z` (at that time). */
export function parseStep(text: string): Record<string, unknown> {
  const match = /^(\d+(?:\.\d+)?)%?@(.+)$/.exec(text);
  if (!match) throw usageError(`a step is PERCENT@WHEN (25@10m, 100@2025-06-03T14:00:00Z), not "${text}"`);
  const percentage = Number(match[1]);
  const when = match[2]!;
  return /^\d{4}-\d{2}-\d{2}T/.test(when) ? { percentage, at: when } : { percentage, after: /^\d+$/.test(when) ? Number(when) : when };
}

/** `rollout start/status/pause/resume/cancel`: the flag's rollout plan, run by a Temporal workflow. */
export function registerRolloutCommands(program: Command, session: Session): void {
  const rollout = program.command('rollout').description('Start, watch, pause, resume and cancel a flag\'s rollout plan');

  rollout
    .command('start <flagKey>')
    .description('Start a rollout plan (a high-impact flag files a change request instead)')
    .option('-s, --step <PERCENT@WHEN>', 'a step: 5@10m, 25@1d, 100@2025-06-03T14:00:00Z (repeat, in order)', collect)
    .option('-f, --file <path>', 'the whole plan as YAML or JSON (steps, gate, onResume, bucketBy, reason)')
    .addOption(new Option('--on-resume <policy>', 'what resume does with steps that fell due while paused').choices(['shift_schedule', 'apply_overdue']))
    .option('--reason <text>', 'why (shown in the Temporal UI and to approvers)')
    .action(async (flagKey: string, options: { step?: string[]; file?: string; onResume?: string; reason?: string }) => {
      const plan: Record<string, unknown> = {
        ...(options.file ? readMapping(options.file) : {}),
        ...(options.step ? { steps: options.step.map(parseStep) } : {}),
        ...(options.onResume ? { onResume: options.onResume } : {}),
        ...(options.reason ? { reason: options.reason } : {}),
      };
      if (!Array.isArray(plan.steps) || plan.steps.length === 0) throw usageError('a plan needs steps: --step 5@10m --step 100@1d, or --file');
      const answer = await session.client().request<Rollout>('POST', `/v1/flags/${pathKey(flagKey)}/rollouts`, { body: plan });
      if (!reportFiled(session, answer)) printRollout(session, answer.body);
    });

  rollout
    .command('status <flagKey>')
    .description('The flag\'s running (or latest) rollout: its state, steps, and a link to the Temporal UI')
    .action(async (flagKey: string) => {
      printRollout(session, await session.client().get<Rollout>(`/v1/flags/${pathKey(flagKey)}/rollout`));
    });

  for (const action of ['pause', 'resume'] as const) {
    rollout
      .command(`${action} <flagKey>`)
      .description(action === 'pause' ? 'Pause before the next step' : 'Resume a paused rollout')
      .option('--reason <text>', 'why')
      .action(async (flagKey: string, options: { reason?: string }) => {
        const answer = await session.client().request<Rollout>('POST', `/v1/flags/${pathKey(flagKey)}/rollout/${action}`, { body: options.reason ? { reason: options.reason } : {} });
        printRollout(session, answer.body);
      });
  }

  rollout
    .command('cancel <flagKey>')
    .description('Cancel the rollout; the percentage stays unless --rollback')
    .option('--rollback', 'return the flag to the rollout it had before the plan')
    .option('--reason <text>', 'why')
    .action(async (flagKey: string, options: { rollback?: boolean; reason?: string }) => {
      const answer = await session.client().request<Rollout>('POST', `/v1/flags/${pathKey(flagKey)}/rollout/cancel`, {
        body: { ...(options.rollback ? { rollback: true } : {}), ...(options.reason ? { reason: options.reason } : {}) },
      });
      printRollout(session, answer.body);
    });
}

function printRollout(session: Session, rollout: Rollout): void {
  const terminal = session.terminal;
  if (terminal.format !== 'table') return printResult(terminal, rollout);
  const pause = rollout.pause ? ` (${rollout.pause.cause}${rollout.pause.by ? ` by ${rollout.pause.by}` : ''}${rollout.pause.reason ? `: ${rollout.pause.reason}` : ''})` : '';
  terminal.out([
    `${terminal.style('bold', `rollout ${rollout.id}`)} of ${rollout.flagKey}: ${rollout.state}${pause}`,
    `percentage: ${cell(rollout.percentage)}   step: ${rollout.currentStep + 1} of ${rollout.steps.length}   started by: ${rollout.startedBy}${rollout.reason ? `   reason: ${rollout.reason}` : ''}`,
    ...(rollout.links?.temporalUi ? [`Temporal UI: ${rollout.links.temporalUi}`] : []),
    '',
  ].join('\n'));
  printResult(terminal, rollout.steps, [
    { header: 'STEP', value: (step) => step.index + 1 },
    { header: 'TARGET', value: (step) => (step.percentage === undefined ? step.distribution : `${step.percentage}%`) },
    { header: 'PLANNED', value: (step) => step.plannedAt },
    { header: 'DUE', value: (step) => step.dueAt },
    { header: 'APPLIED', value: (step) => step.appliedAt },
  ]);
}
