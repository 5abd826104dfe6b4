// Workflow ids are business keys, so a second workflow for the same thing collides with the first.
// They live apart from the workflow definitions so the data layer can name a workflow without
// loading Temporal's workflow runtime.

/** `rollout:<flagKey>`: a second plan for the same flag collides with the first. */
export function rolloutWorkflowId(flagKey: string): string {
  return `rollout:${flagKey}`;
}

/** `change:<requestId>`: one workflow per change request. */
export function changeRequestWorkflowId(requestId: string): string {
  return `change:${requestId}`;
}

/** `scheduled-change:<id>`: one workflow per scheduled change. */
export function scheduledChangeWorkflowId(id: string): string {
  return `scheduled-change:${id}`;
}
