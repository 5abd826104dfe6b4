import { metrics } from '@opentelemetry/api';
import type { FlagsClient } from './client.ts';
import type { EvaluationContext, FlagValue } from './types.ts';

/** One context for which the flag and the old environment variable gave different answers. */
export interface ToggleDisagreement {
  flagKey: string;
  envVar: string;
  envValue: FlagValue;
  flagValue: FlagValue;
  served: 'env' | 'flag';
  context: EvaluationContext;
}

export interface EnvToggleMigrationOptions {
  client: Pick<FlagsClient, 'evaluate' | 'track'>;
  flagKey: string;
  /** The environment variable the flag replaces. */
  envVar: string;
  /**
   * Which answer callers get while both run: `env` (the old toggle, while the flag is being shown to
   * reproduce it), then `flag` (the flag decides; the variable is still read, to compare).
   */
  serve: 'env' | 'flag';
  /** The variable's value as a flag value (default: a boolean: 1, true, yes and on are true; unset is `fallback`). */
  parse?: (raw: string | undefined) => FlagValue;
  /** What the flag answers when it cannot (and what an unset variable means to the default parser). */
  fallback: FlagValue;
  env?: NodeJS.ProcessEnv;
  /** Told of every disagreement, for a log line of your own. */
  onDisagreement?: (disagreement: ToggleDisagreement) => void;
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);

/**
 * The PRD's "replace env var toggles with flag lookups … dual path verify": during a migration both
 * paths run on every call; callers get the configured one, and every context where they differ is
 * counted (the OpenTelemetry metric `feature_flag.migration.disagreement`, by flag) and reported to
 * the service as a `flagship.migration.disagreement` tracking event (with the client's `tracking`
 * option on), so a team can see the flag reproduce the toggle before it deletes the variable.
 * See docs/openfeature.md, "Migrating from environment-variable toggles".
 */
export function createEnvToggleMigration(options: EnvToggleMigrationOptions) {
  const env = options.env ?? process.env;
  const parse = options.parse ?? ((raw: string | undefined) => (raw === undefined ? options.fallback : TRUE_WORDS.has(raw.trim().toLowerCase())));
  const counter = metrics.getMeter('flagship-openfeature').createCounter('feature_flag.migration.disagreement', {
    description: 'Evaluations where a flag and the environment variable it replaces answered differently',
  });
  let evaluations = 0;
  let disagreements = 0;
  return {
    /** The configured source's answer for this context; both are computed and compared. */
    value(context: EvaluationContext): FlagValue {
      evaluations += 1;
      const envValue = parse(env[options.envVar]);
      const flagValue = options.client.evaluate(options.flagKey, context, options.fallback).value;
      if (JSON.stringify(envValue) !== JSON.stringify(flagValue)) {
        disagreements += 1;
        counter.add(1, { 'feature_flag.key': options.flagKey, 'feature_flag.migration.env_var': options.envVar });
        options.client.track('flagship.migration.disagreement', context, {
          flagKey: options.flagKey,
          envVar: options.envVar,
          envValue: JSON.stringify(envValue),
          flagValue: JSON.stringify(flagValue),
          served: options.serve,
        });
        options.onDisagreement?.({ flagKey: options.flagKey, envVar: options.envVar, envValue, flagValue, served: options.serve, context });
      }
      return options.serve === 'env' ? envValue : flagValue;
    },
    /** Calls so far, and in how many the two answers differed. */
    stats(): { evaluations: number; disagreements: number } {
      return { evaluations, disagreements };
    },
  };
}
