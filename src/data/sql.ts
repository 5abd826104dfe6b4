import { createSqlTag } from 'slonik';
import { z } from 'zod';

/** The data layer's sql tag: slonik's, with an alias for statements that return no rows we read. */
export const sql = createSqlTag({
  typeAliases: {
    void: z.object({}).passthrough(),
  },
});
