import type { Context, Next } from 'koa';
import { AppError } from '../errors.ts';
import { findBadText } from './checked-text.ts';

/** Deeper than any flag, segment or context a person writes; deep enough that a recursive validator never runs out of stack. */
const MAX_BODY_DEPTH = 64;
const DEFAULT_MAX_BODY_BYTES = 1_048_576;

const METHODS_WITH_BODIES = new Set(['POST', 'PUT', 'PATCH']);
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LETTER_U = 0x75;

/** A body that is not JSON at all (bad bytes, bad syntax): OFREP answers these with PARSE_ERROR. */
export class MalformedBody extends AppError {
  constructor(message: string) {
    super('validation_error', message, { issues: [{ path: 'body', message }] });
    this.name = 'MalformedBody';
  }
}

/**
 * Reads a JSON request body into `ctx.request.body`, checked before any route sees it:
 * at most `maxBytes`, valid UTF-8 (not silently replaced by U+FFFD), valid JSON whose top level is
 * an object or array, nested at most `maxDepth` deep (counted on the text, before parsing, so no
 * validator ever recurses through 10,000 levels), and no NUL or lone surrogate in any string or
 * key (PostgreSQL cannot store either). A POST, PUT or PATCH without a body gets `{}`, as before.
 */
export function jsonBody(options: { maxBytes?: number; maxDepth?: number } = {}) {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxDepth = options.maxDepth ?? MAX_BODY_DEPTH;
  const decoder = new TextDecoder('utf-8', { fatal: true });

  return async function readJsonBody(ctx: Context, next: Next): Promise<void> {
    if (!METHODS_WITH_BODIES.has(ctx.method)) return next();
    const hasBody = ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
    if (!hasBody) {
      (ctx.request as { body?: unknown }).body = {};
      return next();
    }
    // The usual header is compared as it is; anything else (parameters, +json types) is parsed.
    const contentType = ctx.get('content-type');
    if (contentType !== 'application/json' && !ctx.request.is('application/json', '+json')) throw new AppError('validation_error', 'request body must be JSON (Content-Type: application/json)', { issues: [{ path: 'Content-Type', message: 'must be application/json' }] });
    const encoding = ctx.get('content-encoding').toLowerCase();
    if (encoding !== '' && encoding !== 'identity') throw new AppError('validation_error', `Content-Encoding ${encoding} is not accepted; send the body uncompressed`, { issues: [{ path: 'Content-Encoding', message: 'must be identity' }] });
    if (ctx.request.length > maxBytes) throw tooLarge(maxBytes);

    const bytes = await readBytes(ctx, maxBytes);
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new MalformedBody('request body is not valid UTF-8');
    }
    const scan = scanJson(text, maxDepth);
    if (scan === 'too_deep') throw new AppError('validation_error', `request body is nested deeper than ${maxDepth} levels`, { issues: [{ path: 'body', message: `nested deeper than ${maxDepth} levels` }] });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new MalformedBody(`request body is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null) throw new MalformedBody('request body must be a JSON object or array');
    // Only a \u escape can put a NUL or a lone surrogate into a string that passed the UTF-8 and JSON checks.
    if (scan === 'has_unicode_escapes') {
      const bad = findBadText(parsed);
      if (bad) throw new AppError('validation_error', `invalid body: ${bad.path || 'body'}: ${bad.message}`, { issues: [{ path: bad.path || 'body', message: bad.message }] });
    }
    (ctx.request as { body?: unknown }).body = parsed;
    return next();
  };
}

function tooLarge(maxBytes: number): AppError {
  return new AppError('validation_error', 'request body is too large', { limit: maxBytes });
}

/** The body's bytes, at most `maxBytes`; read with stream events, which cost less per request than an async iterator. */
function readBytes(ctx: Context, maxBytes: number): Promise<Uint8Array> {
  const request = ctx.req;
  return new Promise((resolve, reject) => {
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        finish();
        // The rest is not read: the answer closes the connection, so an endless body is not drained.
        ctx.set('Connection', 'close');
        reject(tooLarge(maxBytes));
        return;
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    };
    const onEnd = () => {
      finish();
      resolve(chunks ? Buffer.concat(chunks, size) : (first ?? new Uint8Array(0)));
    };
    const onError = (error: Error) => {
      finish();
      reject(error);
    };
    const finish = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}

/**
 * One pass over the text, allocating nothing: how deep the brackets go (outside strings), and
 * whether any string holds a `\u` escape. Malformed text is left to JSON.parse to describe.
 */
function scanJson(text: string, maxDepth: number): 'too_deep' | 'has_unicode_escapes' | 'plain' {
  let depth = 0;
  let inString = false;
  let unicodeEscapes = false;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === BACKSLASH) {
        if (text.charCodeAt(index + 1) === LETTER_U) unicodeEscapes = true;
        index += 1;
      } else if (code === QUOTE) {
        inString = false;
      }
    } else if (code === QUOTE) {
      inString = true;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      depth += 1;
      if (depth > maxDepth) return 'too_deep';
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth -= 1;
    }
  }
  return unicodeEscapes ? 'has_unicode_escapes' : 'plain';
}
