// A flag's insights (GET /v1/flags/{key}/insights): how often it was evaluated over each window the
// API offers, by reason, variant, rule and served value, and when last. Counts reach the API every
// few seconds (FLAGS_INSIGHTS_FLUSH_SECONDS), so the panel can be read again by hand.
import { api } from '../api.js';
import { html } from '../html.js';
import { ErrorMessage, TableWrap, Time, useLoad } from './common.js';

const WINDOW_NAMES = { '1h': 'Last hour', '24h': 'Last day', '7d': 'Last 7 days', '30d': 'Last 30 days' };

const BREAKDOWNS = [
  { field: 'byReason', title: 'By reason' },
  { field: 'byVariant', title: 'By variant' },
  { field: 'byRule', title: 'By rule' },
  { field: 'byValue', title: 'By value' },
];

const number = new Intl.NumberFormat('en');

/** `{ "TARGETING_MATCH": 12, "DEFAULT": 3 }` as a list, largest first. */
function Counts({ counts }) {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a);
  if (entries.length === 0) return html`<span>—</span>`;
  return html`<ul class="counts">${entries.map(([name, count]) => html`<li><code>${name === '' ? '(none)' : name}</code> ${number.format(count)}</li>`)}</ul>`;
}

export function InsightsPanel({ flag }) {
  const insights = useLoad((signal) => api('GET', `/v1/flags/${encodeURIComponent(flag.key)}/insights`, { signal }), [flag.key, flag.version]);
  if (insights.error) return html`<${ErrorMessage} error=${insights.error} title="Could not read the insights" />`;
  if (!insights.data) return html`<p role="status">Loading…</p>`;
  const { lastEvaluatedAt, windows } = insights.data;
  return html`<p data-testid="last-evaluated">${lastEvaluatedAt ? html`Last evaluated <${Time} iso=${lastEvaluatedAt} />.` : 'Not evaluated yet (counts arrive within seconds of an evaluation).'}
      <button type="button" class="link" onClick=${insights.reload}>Read again</button></p>
    <${TableWrap} label="Evaluations per window">
      <table class="insights">
        <caption class="visually-hidden">Evaluations per window, by reason, variant, rule and value</caption>
        <thead><tr><th scope="col">Window</th><th scope="col">Evaluations</th>${BREAKDOWNS.map((breakdown) => html`<th scope="col">${breakdown.title}</th>`)}</tr></thead>
        <tbody>${Object.entries(windows).map(([name, window]) => html`<tr data-window=${name}>
          <th scope="row">${WINDOW_NAMES[name] ?? name}</th>
          <td class="total">${number.format(window.total)}</td>
          ${BREAKDOWNS.map((breakdown) => html`<td><${Counts} counts=${window[breakdown.field]} /></td>`)}
        </tr>`)}</tbody>
      </table>
    <//>`;
}
