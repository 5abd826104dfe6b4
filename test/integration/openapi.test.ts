// The OpenAPI document (issue 11, defect 7): valid OpenAPI 3.1, every $ref resolves, every route
// the app serves is documented with a unique operationId, the event stream says text/event-stream.
import type Router from '@koa/router';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createApp } from '../../src/api/app.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

type Json = Record<string, unknown>;

let api: TestApi;
let document: Json;

beforeAll(async () => {
  api = await startTestApi();
  const response = await fetch(`${api.baseUrl}/openapi.json`);
  expect(response.status).toBe(200);
  document = (await response.json()) as Json;
});
afterAll(() => api.close());

/** Every `$ref` in the document, with where it was found. */
function refsOf(value: unknown, at = '#'): { at: string; ref: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => refsOf(item, `${at}/${index}`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) => (key === '$ref' && typeof item === 'string' ? [{ at, ref: item }] : refsOf(item, `${at}/${key}`)));
}

/** Follows a local JSON pointer (`#/components/schemas/JsonValue`) from the document's root. */
function resolvePointer(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((part) => decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, part) => (typeof node === 'object' && node !== null ? (node as Json)[part] : undefined), root);
}

const operationsOf = (doc: Json) =>
  Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ path, method, operation })));

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 by its schema', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await new Validator().validate(document as never);
    expect(result).toEqual({ valid: true });
  });

  it('has no $ref that does not resolve from the root', () => {
    const refs = refsOf(document);
    expect(refs.length).toBeGreaterThan(10);
    const unresolved = refs.filter(({ ref }) => resolvePointer(document, ref) === undefined);
    expect(unresolved).toEqual([]);
    expect(refs.some(({ ref }) => ref === '#/components/schemas/JsonValue')).toBe(true);
  });

  it('gives every operation a unique operationId', () => {
    const ids = operationsOf(document).map(({ method, path, operation }) => ({ method, path, operationId: operation.operationId }));
    for (const { operationId } of ids) expect(operationId).toMatch(/^[a-z][A-Za-z0-9]+$/);
    expect(new Set(ids.map(({ operationId }) => operationId)).size).toBe(ids.length);
  });

  // The console's pages and scripts (/ui, docs/console.md) are files for a browser, not operations a
  // client would call: they stay out of the document, and only they do.
  it('documents every route the app serves, /health, /metrics and /openapi.json included, and not the console\'s files', () => {
    const app = createApp(api.deps);
    const served = app.middleware
      .map((middleware) => (middleware as { router?: Router }).router)
      .filter((router): router is Router => router !== undefined)
      .flatMap((router) => router.stack.flatMap((layer) => layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method.toLowerCase()} ${String(layer.path).replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`)));
    const documented = new Set(operationsOf(document).map(({ method, path }) => `${method} ${path}`));
    expect(served.length).toBeGreaterThan(40);
    const isConsole = (route: string) => /^get \/ui(\/|$)/.test(route);
    expect(served.filter(isConsole)).toEqual(['get /ui', 'get /ui/', 'get /ui/*file']);
    expect(served.filter((route) => !isConsole(route) && !documented.has(route))).toEqual([]);
    const paths = document.paths as Record<string, Record<string, Json>>;
    expect(Object.keys(paths).filter((path) => path.startsWith('/ui'))).toEqual([]);
    expect(paths['/v1/me']?.get?.operationId).toBe('getMe');
    expect([paths['/health']?.get?.operationId, paths['/metrics']?.get?.operationId, paths['/openapi.json']?.get?.operationId]).toEqual(['getHealth', 'getMetrics', 'getOpenApiDocument']);
  });

  it('says the event stream is text/event-stream and the metrics are text', () => {
    const paths = document.paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
    expect(Object.keys(paths['/v1/events']!.get!.responses['200']!.content!)).toEqual(['text/event-stream']);
    expect(Object.keys(paths['/metrics']!.get!.responses['200']!.content!)).toEqual(['text/plain']);
  });
});
