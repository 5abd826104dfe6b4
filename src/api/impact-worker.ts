import { createHmac } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { computeImpact, type EvaluationContext, type FlagImpact, type ImpactWorld } from '@flagship/engine';

/** What the API process sends: both worlds as plain definitions, the samples as JSON text (parsed here, not there). */
export interface ImpactRequest {
  id: number;
  before: ImpactWorld;
  after: ImpactWorld;
  flagKeys: string[];
  samples: Record<string, string>;
  overall: string;
  examplesPerTransition: number;
}

export type ImpactReply = { id: number; impacts: FlagImpact[] } | { id: number; error: string };

/**
 * The impact computation's thread (impact-preview.ts starts one per API process): compiling the
 * candidate set and evaluating 100,000 sampled contexts takes a while, and here it does not hold
 * up the evaluations on the API's event loop.
 */
const pseudonymKey = (workerData as { pseudonymKey: string }).pseudonymKey;
const pseudonymise = (identity: string) => `anon-${createHmac('sha256', pseudonymKey).update(identity).digest('hex').slice(0, 12)}`;

parentPort!.on('message', (request: ImpactRequest) => {
  let reply: ImpactReply;
  try {
    const samples = Object.fromEntries(Object.entries(request.samples).map(([key, text]) => [key, JSON.parse(text) as EvaluationContext[]]));
    const impacts = computeImpact({
      before: request.before,
      after: request.after,
      flagKeys: request.flagKeys,
      samples,
      overall: JSON.parse(request.overall) as EvaluationContext[],
      examplesPerTransition: request.examplesPerTransition,
      pseudonymise,
    });
    reply = { id: request.id, impacts };
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
