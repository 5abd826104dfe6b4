import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Scope } from '../data/tokens.ts';
import { AppError } from '../errors.ts';
import { requireScope, type Authenticator, type Principal } from './auth.ts';

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

export interface RouteSpec<Body extends z.ZodType, Query extends z.ZodType, Params extends z.ZodType> {
  method: Method;
  /** Koa-router syntax (`/v1/flags/:key`); the OpenAPI document shows `{key}`. */
  path: string;
  summary: string;
  tag: string;
  /** The scope the token must hold (a list: any one of them); omit only for public routes. */
  scope?: Scope | readonly Scope[];
  body?: Body;
  query?: Query;
  params?: Params;
  /** Documented responses besides the error body: status → description (and schema). */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handler: (ctx: Context, input: { body: z.output<Body>; query: z.output<Query>; params: z.output<Params>; principal: Principal }) => Promise<void>;
}

interface Operation {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  scope: Scope | readonly Scope[] | undefined;
  body: z.ZodType | undefined;
  query: z.ZodType | undefined;
  params: z.ZodType | undefined;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

/**
 * Registers routes on a Koa router and, from the same zod schemas that validate their input, the
 * operations of the OpenAPI document: the document cannot drift from what the code accepts.
 */
export class RouteRegistry {
  readonly #operations: Operation[] = [];
  readonly #authenticator: Authenticator;

  constructor(authenticator: Authenticator) {
    this.#authenticator = authenticator;
  }

  get operations(): readonly Operation[] {
    return this.#operations;
  }

  add<Body extends z.ZodType = z.ZodUndefined, Query extends z.ZodType = z.ZodUndefined, Params extends z.ZodType = z.ZodUndefined>(
    router: Router,
    spec: RouteSpec<Body, Query, Params>,
  ): void {
    this.#operations.push({
      method: spec.method,
      path: spec.path,
      summary: spec.summary,
      tag: spec.tag,
      scope: spec.scope,
      body: spec.body,
      query: spec.query,
      params: spec.params,
      responses: spec.responses,
    });
    const authenticate = spec.scope ? requireScope(this.#authenticator, spec.scope) : async (_ctx: Context, next: () => Promise<unknown>) => next();
    router[spec.method](spec.path, authenticate, async (ctx) => {
      const body = parse(spec.body, (ctx.request as { body?: unknown }).body, 'body');
      const query = parse(spec.query, ctx.query, 'query');
      const params = parse(spec.params, ctx.params, 'path');
      await spec.handler(ctx, { body, query, params, principal: ctx.state.principal as Principal });
    });
  }
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> {
  if (!schema) return undefined as z.output<T>;
  const result = schema.safeParse(value);
  if (!result.success) throw new AppError('validation_error', `invalid ${where}: ${describeIssues(result.error.issues, where)}`, { issues: toIssues(result.error.issues, where) });
  return result.data as never;
}

/** `rules[0].conditions[1].value`-style paths, the same shape the engine's validation reports. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)), '');
}

function toIssues(issues: readonly z.core.$ZodIssue[], where: string): { path: string; message: string }[] {
  return issues.map((issue) => ({ path: formatPath(issue.path) || where, message: issue.message }));
}

function describeIssues(issues: readonly z.core.$ZodIssue[], where: string): string {
  return toIssues(issues, where)
    .slice(0, 5)
    .map((issue) => `${issue.path}: ${issue.message}`)
    .join('; ');
}

const errorSchema = z.object({
  error: z.object({
    code: z.string().describe('one of the contract error codes'),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});

/** The OpenAPI 3.1 document of every registered operation. */
export function openApiDocument(registry: RouteRegistry, info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of registry.operations) {
    const path = operation.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const parameters = [
      ...objectProperties(operation.params).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
      ...objectProperties(operation.query).map(([name, schema, required]) => ({ name, in: 'query', required, schema })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(operation.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.schema ? { content: { 'application/json': { schema: jsonSchema(response.schema, 'output') } } } : {}),
      };
    }
    responses.default = { description: 'an error', content: { 'application/json': { schema: jsonSchema(errorSchema, 'output') } } };
    (paths[path] ??= {})[operation.method] = {
      summary: operation.summary,
      tags: [operation.tag],
      ...(operation.scope
        ? typeof operation.scope === 'string'
          ? { security: [{ bearer: [operation.scope] }], 'x-required-scope': operation.scope }
          // Any one of the scopes: one security requirement each (OpenAPI ORs the entries).
          : { security: operation.scope.map((scope) => ({ bearer: [scope] })), 'x-required-scope': [...operation.scope] }
        : { security: [] }),
      ...(parameters.length ? { parameters } : {}),
      ...(operation.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(operation.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function objectProperties(schema: z.ZodType | undefined): [string, Record<string, unknown>, boolean][] {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => [name, property, (json.required ?? []).includes(name)]);
}
