// The workflow bundle's entry point: every workflow the worker runs is exported from here.
export { auditCheckpointWorkflow } from './audit-checkpoint-workflow.ts';
export { changeRequestWorkflow } from './change-request-workflow.ts';
export { retentionWorkflow } from './retention-workflow.ts';
export { rolloutWorkflow } from './rollout-workflow.ts';
export { scheduledChangeWorkflow } from './scheduled-change-workflow.ts';
export { snapshotPublisherWorkflow } from './snapshot-publisher-workflow.ts';
export { staleFlagReportWorkflow } from './stale-report-workflow.ts';
