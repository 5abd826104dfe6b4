/**
 * The contract's closed set of error codes, each with its HTTP status; `method_not_allowed`,
 * `too_many_requests`, `unavailable` and `internal` are the four the contract leaves out (a method
 * the route does not have, a cap on what one token may hold open, a dependency down, a bug),
 * documented in docs/api.md.
 */
export const ERROR_STATUS = {
  validation_error: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  version_conflict: 409,
  prerequisite_cycle: 409,
  rollout_conflict: 409,
  approval_required: 202,
  method_not_allowed: 405,
  too_many_requests: 429,
  unavailable: 503,
  internal: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * The one error type that crosses layers. The data layer maps library errors into it, the API's
 * error middleware writes it as `{ error: { code, message, details } }` with the status above.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/**
 * `validation_error` for input with these issues: the first five in the message (`invalid flag:
 * rules[0].serve: …`), every one in `details.issues`. The one form of every request, definition and
 * plan refusal, whichever layer finds it.
 */
export function validationError(what: string, issues: readonly { path: string; message: string }[]): AppError {
  const summary = issues.slice(0, 5).map((issue) => `${issue.path}: ${issue.message}`).join('; ');
  return new AppError('validation_error', `invalid ${what}: ${summary}`, { issues });
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
