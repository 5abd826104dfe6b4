import { parser } from '@prometheus-io/lezer-promql';

/**
 * The metric names a PromQL expression selects, read with Prometheus's own grammar (the parser its
 * web UI uses), so a function, a label or a keyword is never mistaken for a metric. Throws on an
 * expression that does not parse.
 */
export function metricNamesIn(expression: string): string[] {
  const names = new Set<string>();
  let error: number | undefined;
  parser.parse(expression).iterate({
    enter(node) {
      if (node.type.isError) error ??= node.from;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.add(expression.slice(node.from, node.to));
    },
  });
  if (error !== undefined) throw new Error(`not PromQL at ${error}: ${expression}`);
  return [...names];
}

/**
 * Every metric name a Prometheus text exposition declares (`# TYPE`), with the series names a
 * histogram or summary expands to, and every name that has a sample.
 */
export function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const declared = /^# TYPE (\S+) (\S+)/.exec(line);
    if (declared) {
      const [, name, type] = declared as unknown as [string, string, string];
      names.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
      if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}
