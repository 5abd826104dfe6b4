import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Scope } from '../data/tokens.ts';
import { AppError, validationError } from '../errors.ts';
import { requireScope, type Authenticator } from './auth.ts';
import { textProblem } from './checked-text.ts';
import type { Principal } from './principal.ts';
import { formatZodIssues } from '@flagship/engine/validate';

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

/** A documented response: JSON unless `contentType` says otherwise (`text/event-stream`, `text/plain`). */
export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
}

export interface RouteSpec<Body extends z.ZodType, Query extends z.ZodType, Params extends z.ZodType> {
  method: Method;
  /** Unique, camelCase: the method name generated clients give this operation (`createFlag`). */
  operationId: string;
  /** Koa-router syntax (`/v1/flags/:key`); the OpenAPI document shows `{key}`. */
  path: string;
  summary: string;
  tag: string;
  /** The scope the token must hold (a list: any one of them); omit only for public routes. */
  scope?: Scope | readonly Scope[];
  body?: Body;
  query?: Query;
  params?: Params;
  /**
   * A hand-written check of the body for a hot route: the body's output when it is certainly what
   * `body` accepts (the same output zod gives), `undefined` to let zod decide, and so also write any
   * error. It may only be narrower than the schema, never wider; a unit test holds it to that.
   */
  fastBody?: (body: unknown) => z.output<Body> | undefined;
  /** Documented responses besides the error body: status → description (and schema). */
  responses: Record<number, ResponseSpec>;
  handler: (ctx: Context, input: { body: z.output<Body>; query: z.output<Query>; params: z.output<Params>; principal: Principal }) => Promise<void>;
}

export interface Operation {
  method: Method;
  operationId: string;
  path: string;
  summary: string;
  tag: string;
  scope: Scope | readonly Scope[] | undefined;
  body: z.ZodType | undefined;
  query: z.ZodType | undefined;
  params: z.ZodType | undefined;
  responses: Record<number, ResponseSpec>;
}

/** Tags whose routes are the evaluation hot path (the access log treats their successes apart). */
export const EVALUATION_TAGS: ReadonlySet<string> = new Set(['evaluation', 'ofrep']);

/**
 * Serves one registered route without the router: what the router would do on a match (note the
 * route template and the path parameters) and then the route's own middleware. For the evaluation
 * fast path (evaluation-fast-path.ts), which knows its few paths without trying every route's pattern.
 */
export type DirectRoute = (ctx: Context, params: Record<string, string>) => Promise<void>;

/**
 * Registers routes on a Koa router and, from the same zod schemas that validate their input, the
 * operations of the OpenAPI document: the document cannot drift from what the code accepts.
 */
export class RouteRegistry {
  readonly #operations: Operation[] = [];
  readonly #direct = new Map<string, DirectRoute>();
  readonly #authenticator: Authenticator;

  constructor(authenticator: Authenticator) {
    this.#authenticator = authenticator;
  }

  get operations(): readonly Operation[] {
    return this.#operations;
  }

  /** The route registered under `operationId`, served directly; throws when there is none. */
  direct(operationId: string): DirectRoute {
    const route = this.#direct.get(operationId);
    if (!route) throw new Error(`no operation "${operationId}" is registered`);
    return route;
  }

  add<Body extends z.ZodType = z.ZodUndefined, Query extends z.ZodType = z.ZodUndefined, Params extends z.ZodType = z.ZodUndefined>(
    router: Router,
    spec: RouteSpec<Body, Query, Params>,
  ): void {
    if (!/^[a-z][A-Za-z0-9]*$/.test(spec.operationId)) throw new Error(`operationId "${spec.operationId}" is not camelCase`);
    if (this.#operations.some((operation) => operation.operationId === spec.operationId)) throw new Error(`operationId "${spec.operationId}" is registered twice`);
    const operation: Operation = {
      method: spec.method,
      operationId: spec.operationId,
      path: spec.path,
      summary: spec.summary,
      tag: spec.tag,
      scope: spec.scope,
      body: spec.body,
      query: spec.query,
      params: spec.params,
      responses: spec.responses,
    };
    this.#operations.push(operation);
    const checkScope = spec.scope ? requireScope(this.#authenticator, spec.scope) : undefined;
    // The operation is noted first, so the access log names it even when authentication fails.
    const enter = (ctx: Context, next: () => Promise<unknown>) => {
      ctx.state.operation = operation;
      return checkScope ? checkScope(ctx, next as never) : next();
    };
    const { fastBody } = spec;
    const run = async (ctx: Context) => {
      refuseBadText(ctx);
      const rawBody = (ctx.request as { body?: unknown }).body;
      const body = (fastBody && fastBody(rawBody)) ?? parse(spec.body, rawBody, 'body');
      const query = spec.query ? parse(spec.query, ctx.query, 'query') : (undefined as z.output<Query>);
      const params = parse(spec.params, ctx.params, 'path');
      await spec.handler(ctx, { body, query, params, principal: ctx.state.principal as Principal });
    };
    router[spec.method](spec.path, enter, run);
    const template = spec.path;
    this.#direct.set(spec.operationId, (ctx, params) => {
      const routed = ctx as Context & { _matchedRoute?: string; routerPath?: string };
      routed._matchedRoute = template;
      routed.routerPath = template;
      ctx.params = params;
      return enter(ctx, () => run(ctx)) as Promise<void>;
    });
  }
}

function invalidText(where: string, name: string, message: string): AppError {
  return new AppError('validation_error', `invalid ${where}: ${name}: ${message}`, { issues: [{ path: name, message }] });
}

/**
 * Query and path parameters are text like any body's (the body parser checks those): a NUL or a
 * lone surrogate is refused here, before a schema or the database sees it, and so is a query whose
 * percent-encoding is not UTF-8 (the query parser would silently turn it into U+FFFD).
 */
function refuseBadText(ctx: Context): void {
  // A for-in over the (usually empty) params allocates nothing on the evaluation path.
  const params = ctx.params as Record<string, string>;
  for (const name in params) {
    const problem = textProblem(params[name] ?? '');
    if (problem) throw invalidText('path', name, problem);
  }
  if (ctx.querystring === '') return;
  if (ctx.querystring.includes('%')) {
    for (const part of ctx.querystring.split('&')) {
      try {
        decodeURIComponent(part.replace(/\+/g, ' '));
      } catch {
        throw invalidText('query', part.split('=')[0] ?? '', 'is not valid percent-encoded UTF-8');
      }
    }
  }
  for (const [name, value] of Object.entries(ctx.query)) {
    for (const text of [name, ...(Array.isArray(value) ? value : [value ?? ''])]) {
      const problem = textProblem(text);
      if (problem) throw invalidText('query', textProblem(name) ? 'query' : name, problem);
    }
  }
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> {
  if (!schema) return undefined as z.output<T>;
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(where, formatZodIssues(result.error.issues, value).map((issue) => (issue.path ? issue : { ...issue, path: where })));
  return result.data as never;
}

const errorSchema = z.object({
  error: z.object({
    code: z.string().describe('one of the contract error codes'),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});

/**
 * The OpenAPI 3.1 document of every registered operation. zod writes a recursive schema (a JSON
 * value) into `$defs` inside the schema it belongs to, where `#/$defs/…` would not resolve from the
 * document's root; those definitions are moved to `components.schemas`, one per distinct shape, and
 * every `$ref` points there.
 */
export function openApiDocument(registry: RouteRegistry, info: { title: string; version: string }): Record<string, unknown> {
  const components = new SchemaComponents();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of registry.operations) {
    const path = operation.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const schemaOf = (schema: z.ZodType, io: 'input' | 'output') => components.hoist(jsonSchema(schema, io), operation.operationId);
    const parameters = [
      ...objectProperties(operation.params).map(([name, schema]) => ({ name, in: 'path', required: true, schema: components.hoist(schema, operation.operationId) })),
      ...objectProperties(operation.query).map(([name, schema, required]) => ({ name, in: 'query', required, schema: components.hoist(schema, operation.operationId) })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(operation.responses)) {
      const contentType = response.contentType ?? 'application/json';
      responses[status] = {
        description: response.description,
        ...(response.schema ? { content: { [contentType]: { schema: schemaOf(response.schema, 'output') } } } : {}),
      };
    }
    responses.default = { description: 'An error: the contract\'s error body.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    (paths[path] ??= {})[operation.method] = {
      operationId: operation.operationId,
      summary: operation.summary,
      tags: [operation.tag],
      ...(operation.scope
        ? typeof operation.scope === 'string'
          ? { security: [{ bearer: [operation.scope] }], 'x-required-scope': operation.scope }
          // Any one of the scopes: one security requirement each (OpenAPI ORs the entries).
          : { security: operation.scope.map((scope) => ({ bearer: [scope] })), 'x-required-scope': [...operation.scope] }
        : { security: [] }),
      ...(parameters.length ? { parameters } : {}),
      ...(operation.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(operation.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: { Error: jsonSchema(errorSchema, 'output'), ...components.schemas } },
    paths,
  };
}

type JsonObject = Record<string, unknown>;

const LOCAL_DEFINITION = /^#\/\$defs\/(.+)$/;

/** Rewrites every `$ref` of `value` whose target `rename` knows. */
function renameRefs(value: unknown, rename: (name: string) => string | undefined): unknown {
  if (Array.isArray(value)) return value.map((item) => renameRefs(item, rename));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => {
      const local = key === '$ref' && typeof item === 'string' ? LOCAL_DEFINITION.exec(item)?.[1] : undefined;
      const target = local === undefined ? undefined : rename(local);
      return [key, target === undefined ? renameRefs(item, rename) : `#/components/schemas/${target}`];
    }),
  );
}

/** A definition's shape with the names of its references blanked, so equal shapes compare equal whatever zod named them. */
function shapeOf(definition: unknown): string {
  return JSON.stringify(renameRefs(definition, () => '_'));
}

/** What zod writes for `z.json()`, the one recursive schema the API has: named JsonValue in the document. */
const JSON_VALUE_SHAPE = (() => {
  const { $defs, ...root } = jsonSchema(z.array(z.json()), 'input') as { $defs?: Record<string, unknown> };
  const [definition] = Object.values($defs ?? {});
  return definition === undefined ? JSON.stringify(root) : shapeOf(definition);
})();

/** Collects `$defs` from generated schemas into `components.schemas`, one entry per distinct shape. */
class SchemaComponents {
  readonly schemas: Record<string, unknown> = {};
  readonly #namesByShape = new Map<string, string>();

  hoist(schema: JsonObject, owner: string): JsonObject {
    const { $defs, ...root } = schema as JsonObject & { $defs?: Record<string, unknown> };
    if (!$defs) return schema;
    const names = new Map<string, string>();
    for (const [local, definition] of Object.entries($defs)) names.set(local, this.#nameFor(local, definition, owner));
    const rename = (local: string) => names.get(local);
    for (const [local, definition] of Object.entries($defs)) {
      const name = names.get(local)!;
      this.schemas[name] ??= renameRefs(definition, rename);
    }
    return renameRefs(root, rename) as JsonObject;
  }

  #nameFor(local: string, definition: unknown, owner: string): string {
    const shape = shapeOf(definition);
    const known = this.#namesByShape.get(shape);
    if (known) return known;
    // zod names a definition after a schema's `id` meta, or `__schemaN` when it has none.
    let name = shape === JSON_VALUE_SHAPE ? 'JsonValue' : local.startsWith('__schema') ? `${owner[0]!.toUpperCase()}${owner.slice(1)}${local.replace(/\W/g, '')}` : local;
    for (let suffix = 2; name in this.schemas; suffix += 1) name = `${name.replace(/\d+$/, '')}${suffix}`;
    this.#namesByShape.set(shape, name);
    return name;
  }
}

/**
 * A zod schema as JSON Schema. Request bodies stay as strict as zod makes them; answers are
 * documented open (no `additionalProperties: false`): an answer may gain fields without a new API
 * version, so clients must ignore fields they do not know, and the document says so.
 */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    ...(io === 'output'
      ? {
          override: ({ jsonSchema: generated }: { jsonSchema: JsonObject }) => {
            if (generated.additionalProperties === false) delete generated.additionalProperties;
          },
        }
      : {}),
  }) as JsonObject;
  return rest;
}

function objectProperties(schema: z.ZodType | undefined): [string, JsonObject, boolean][] {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, JsonObject>; required?: string[]; $defs?: Record<string, unknown> };
  // A parameter's schema may refer to the object's $defs: each property carries them along to be hoisted.
  return Object.entries(json.properties ?? {}).map(([name, property]) => [name, json.$defs ? { ...property, $defs: json.$defs } : property, (json.required ?? []).includes(name)]);
}
