/**
 * The server SDK: local flag evaluation from the service's signed snapshot, kept current by
 * polling with If-None-Match (and optionally the change stream). See docs/sdk.md.
 *
 * The OpenFeature provider is a separate entry (`…/sdk/openfeature`), so that using the client does
 * not require `@openfeature/server-sdk`.
 */
export { createClient, fetchBootstrap, FlagsClient } from './client.ts';
export { SnapshotError } from './verify-snapshot.ts';
export { createEnvToggleMigration, type EnvToggleMigrationOptions, type ToggleDisagreement } from './env-toggle-migration.ts';
export { changedFlagKeys } from './compile-snapshot.ts';
export { BOOTSTRAP_FORMAT } from './types.ts';
export type {
  BootstrapDocument,
  BootstrapSource,
  BulkEvaluation,
  ClientEvents,
  ClientOptions,
  ClientState,
  ClientStatus,
  Evaluation,
  EvaluationContext,
  EvaluationErrorCode,
  EvaluationResult,
  ExposureOptions,
  ExposureRecord,
  ExposureStats,
  Flag,
  FlagType,
  FlagValue,
  JsonObjectOrArray,
  JsonValue,
  Reason,
  SdkErrorCode,
  SdkErrorInfo,
  SdkLogger,
  Segment,
  SnapshotChange,
  SnapshotDocument,
  StreamOptions,
  TrackingOptions,
  TrackingRecord,
} from './types.ts';
