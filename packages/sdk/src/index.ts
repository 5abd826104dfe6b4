/**
 * The server SDK: local flag evaluation from the service's signed snapshot, kept current by
 * polling with If-None-Match (and optionally the change stream). See docs/sdk.md.
 *
 * The OpenFeature provider (`@flagship/sdk/openfeature`), its OpenTelemetry hook
 * (`@flagship/sdk/telemetry`), the environment-variable migration helper (`@flagship/sdk/migration`)
 * and the webhook verifier (`@flagship/sdk/webhooks`) are separate entries, so that the client needs
 * neither `@openfeature/server-sdk` nor `@opentelemetry/api` (optional peer dependencies).
 */
export { createClient, fetchBootstrap, FlagsClient } from './client.ts';
export { SnapshotError, verifySnapshot, type VerifiedSnapshot } from './verify-snapshot.ts';
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
