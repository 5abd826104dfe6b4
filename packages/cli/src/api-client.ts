import { CliError, EXIT, type ExitCode } from './exit-codes.ts';
import type { Connection } from './profiles.ts';

/** The contract's error codes, and what the CLI exits with for each. */
const EXIT_FOR_CODE: Record<string, ExitCode> = {
  validation_error: EXIT.failure,
  unauthenticated: EXIT.unauthorized,
  permission_denied: EXIT.unauthorized,
  not_found: EXIT.notFound,
  version_conflict: EXIT.conflict,
  prerequisite_cycle: EXIT.conflict,
  rollout_conflict: EXIT.conflict,
  approval_required: EXIT.approvalPending,
};

const REQUEST_TIMEOUT_MS = 60_000;

/** The service's answer to a request it refused: the contract's error body. */
export class ApiError extends CliError {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details: unknown) {
    super(`${code}: ${message}`, EXIT_FOR_CODE[code] ?? EXIT.failure);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
}

/** A high-impact change the service filed instead of applying (202 approval_required). */
export interface FiledChange {
  id: string;
  flagKey: string;
  kind: string;
  status: string;
  contentHash: string;
  expiresAt: string;
}

/** JSON over HTTP to one deployment, with its token; refusals become ApiError. */
export class ApiClient {
  readonly connection: Connection;

  constructor(connection: Connection) {
    this.connection = connection;
  }

  url(path: string, query: RequestOptions['query'] = {}): string {
    const url = new URL(this.connection.url + path);
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    return url.toString();
  }

  async raw(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'flagship-cli', ...options.headers };
    const token = this.connection.currentToken ? await this.connection.currentToken() : this.connection.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    try {
      return await fetch(this.url(path, options.query), {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach ${this.connection.url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
  }

  /**
   * Sends a JSON request and answers the parsed body of a 2xx. A 202 `approval_required` is an
   * answer, not an error: the caller says the change was filed (use `filedChange`).
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<ApiAnswer<T>> {
    const response = await this.raw(method, path, options);
    const text = await response.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!response.ok) throw toApiError(response.status, body);
    return { status: response.status, body: body as T, headers: response.headers };
  }

  async get<T = unknown>(path: string, query?: RequestOptions['query']): Promise<T> {
    return (await this.request<T>('GET', path, query ? { query } : {})).body;
  }

  /** Every item of a paged list, following `nextCursor`. */
  async *pages<T>(path: string, query: RequestOptions['query'] = {}, cursor?: string): AsyncGenerator<{ items: T[]; cursor: string | null; nextCursor: string | null }> {
    let next: string | null = cursor ?? null;
    for (;;) {
      const page: { items: T[]; nextCursor: string | null } = await this.get(path, { ...query, ...(next ? { cursor: next } : {}) });
      yield { items: page.items, cursor: next, nextCursor: page.nextCursor };
      if (!page.nextCursor) return;
      next = page.nextCursor;
    }
  }

  async all<T>(path: string, query: RequestOptions['query'] = {}): Promise<T[]> {
    const items: T[] = [];
    for await (const page of this.pages<T>(path, { limit: 200, ...query })) items.push(...page.items);
    return items;
  }
}

function toApiError(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (error && typeof error.code === 'string') return new ApiError(status, error.code, typeof error.message === 'string' ? error.message : '', error.details);
  const text = typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body ?? null).slice(0, 200);
  return new ApiError(status, status >= 500 ? 'unavailable' : 'http_error', `HTTP ${status}: ${text}`, undefined);
}

/** The change request in a 202 approval_required answer. */
export function filedChange(answer: ApiAnswer<unknown>): FiledChange | null {
  if (answer.status !== 202) return null;
  const error = (answer.body as { error?: { code?: string; details?: FiledChange } }).error;
  return error?.code === 'approval_required' && error.details ? error.details : null;
}
