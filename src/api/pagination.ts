import { z } from 'zod';

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 200;

/** `limit` and `cursor` query parameters, shared by every list endpoint. */
export function pageQuery(maxPageSize = MAX_PAGE_SIZE) {
  return {
    limit: z.coerce.number().int().min(1).max(maxPageSize).default(Math.min(DEFAULT_PAGE_SIZE, maxPageSize)).describe(`Page size, 1–${maxPageSize}.`),
    cursor: z.string().max(512).optional().describe('The nextCursor of the previous page.'),
  };
}
