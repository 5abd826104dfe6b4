import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative } from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../errors.ts';

/** The console's own files: plain ES modules, a stylesheet and one page, served as they are. */
const CONSOLE_DIR = new URL('../console/', import.meta.url).pathname;

/**
 * The view library, served from the project's own node_modules under the names the page's import
 * map gives them: no CDN, no build step. Each is a single ES module; hooks import `preact`, which the
 * import map resolves.
 */
const VENDOR_FILES: readonly { served: string; packageName: string; file: string }[] = [
  { served: 'vendor/preact.mjs', packageName: 'preact', file: 'dist/preact.mjs' },
  { served: 'vendor/preact-hooks.mjs', packageName: 'preact', file: 'hooks/dist/hooks.mjs' },
  { served: 'vendor/htm.mjs', packageName: 'htm', file: 'dist/htm.module.js' },
];

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(body: Buffer, path: string): Asset {
  const type = CONTENT_TYPES[extname(path)];
  if (!type) throw new Error(`the console cannot serve ${path}: no content type for its extension`);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * The folder of an installed package: up from its entry point to the package.json that names it.
 * (Not `require.resolve('<name>/package.json')`: htm's exports do not allow that subpath in Node.)
 */
function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(name));
  while (dir !== dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the folder of the package ${name}`);
}

function consoleFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && extname(entry.name) in CONTENT_TYPES)
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

/**
 * The page's policy: scripts and styles only from this origin (the page's one inline script, the
 * import map, by its hash), requests only to this origin, no plugins, no framing, no `<base>`, and
 * Trusted Types, so that no string can reach an HTML or script sink even if one slipped past the
 * view library's escaping. The bearer token lives in the page's JavaScript, so this policy is what
 * keeps a script of someone else's from running there to read it.
 */
function consolePolicy(inlineScriptHashes: readonly string[], tokenEndpoint?: string): string {
  return [
    "default-src 'none'",
    `script-src 'self' ${inlineScriptHashes.map((hash) => `'sha256-${hash}'`).join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self'",
    // Signing in with the identity provider posts the authorization code to its token endpoint from
    // the page; that one origin is added, nothing else of the provider's (the page is sent to its
    // authorization endpoint by navigation, which this policy does not govern).
    `connect-src 'self'${tokenEndpoint ? ` ${new URL(tokenEndpoint).origin}` : ''}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    'trusted-types none',
  ].join('; ');
}

function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((match) => match[1] ?? '').filter((body) => body.trim() !== '');
}

/**
 * The web console at `/ui/` (docs/console.md): a single page that talks to the public API with the
 * token its user signs in with. Every file is read once, at start, into memory; anything not in
 * that list is 404. Answers carry their own Content-Security-Policy, stricter for scripts than the
 * API's JSON needs.
 */
export function consoleRoutes(options: { tokenEndpoint?: () => string | undefined } = {}): Router {
  const assets = new Map<string, Asset>();
  for (const file of consoleFiles(CONSOLE_DIR)) assets.set(file, asset(readFileSync(join(CONSOLE_DIR, file)), file));
  for (const vendor of VENDOR_FILES) assets.set(vendor.served, asset(readFileSync(join(packageDir(vendor.packageName), vendor.file)), vendor.served));
  const page = assets.get('index.html');
  if (!page) throw new Error(`the console's index.html is missing from ${CONSOLE_DIR}`);
  const hashes = inlineScripts(page.body.toString('utf8')).map((script) => createHash('sha256').update(script).digest('base64'));
  // The API's security headers are already set on every answer; the page's policy replaces the
  // JSON answers' `default-src 'none'`, which would refuse the page its own scripts.
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    // Revalidated on every load (the ETag makes that a 304): a new version reaches users at once.
    'Cache-Control': 'no-cache',
  };

  const policies = new Map<string | undefined, string>();
  function policyFor(tokenEndpoint: string | undefined): string {
    let policy = policies.get(tokenEndpoint);
    if (policy === undefined) {
      policy = consolePolicy(hashes, tokenEndpoint);
      policies.set(tokenEndpoint, policy);
    }
    return policy;
  }

  function serve(ctx: Context, name: string): void {
    const found = assets.get(name);
    if (!found) throw new AppError('not_found', `the console has no file ${name}`);
    ctx.set(headers);
    // Per answer: the token endpoint is known once the service has read the provider's discovery document.
    ctx.set('Content-Security-Policy', policyFor(options.tokenEndpoint?.()));
    ctx.set('ETag', found.etag);
    ctx.type = found.type;
    if (ctx.get('if-none-match') === found.etag) {
      ctx.status = 304;
      return;
    }
    ctx.body = found.body;
  }

  // Strict: /ui and /ui/ are different paths here, one redirecting to the other.
  const router = new Router({ strict: true });
  // Relative URLs in the page (the stylesheet, modules, the import map) resolve against /ui/.
  router.get('/ui', (ctx) => {
    ctx.status = 301;
    ctx.redirect('/ui/');
  });
  router.get('/ui/', (ctx) => serve(ctx, 'index.html'));
  router.get('/ui/*file', (ctx) => {
    const file: unknown = ctx.params.file;
    serve(ctx, Array.isArray(file) ? file.join('/') : String(file));
  });
  return router;
}
