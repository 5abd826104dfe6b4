/** Why a string cannot be accepted, or undefined: PostgreSQL refuses NUL in text and lone surrogates have no UTF-8 form. */
export function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (!text.isWellFormed()) return 'contains invalid Unicode (a lone surrogate)';
  return undefined;
}

/**
 * The first string or object key in a parsed JSON value that `textProblem` refuses, with its path
 * (`context.userId`, `rules[0].id`). Walks with its own stack, so no depth of nesting can overflow it.
 */
export function findBadText(value: unknown): { path: string; message: string } | undefined {
  const pending: { value: unknown; path: string }[] = [{ value, path: '' }];
  while (pending.length > 0) {
    const { value: current, path } = pending.pop()!;
    if (typeof current === 'string') {
      const problem = textProblem(current);
      if (problem) return { path, message: problem };
    } else if (Array.isArray(current)) {
      current.forEach((item, index) => pending.push({ value: item, path: `${path}[${index}]` }));
    } else if (typeof current === 'object' && current !== null) {
      for (const [key, item] of Object.entries(current)) {
        const keyProblem = textProblem(key);
        if (keyProblem) return { path: path || 'body', message: `has a key that ${keyProblem}` };
        pending.push({ value: item, path: path ? `${path}.${key}` : key });
      }
    }
  }
  return undefined;
}
