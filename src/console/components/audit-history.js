// A flag's or a segment's audit trail, newest first, each entry with its diff; older pages on demand.
import { useState } from 'preact/hooks';
import { api, queryString } from '../api.js';
import { html } from '../html.js';
import { DiffTable, ErrorMessage, Time, useLoad } from './common.js';

function Entry({ entry }) {
  return html`<li class="audit-entry">
    <p><strong>${entry.action}</strong>${entry.version ? ` → version ${entry.version}` : ''} by ${entry.actorName ?? entry.actor}${entry.approver ? `, approved by ${entry.approver}` : ''}, <${Time} iso=${entry.at} /></p>
    <${DiffTable} diff=${entry.diff} caption=${`Changes of ${entry.action}${entry.version ? ` (version ${entry.version})` : ''}`} />
  </li>`;
}

/** `path` is the audit list of the entity, e.g. `/v1/flags/x/audit` or `/v1/audit?entityType=segment&entityKey=y`. */
export function AuditHistory({ path, refreshKey }) {
  const [older, setOlder] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const first = useLoad(async (signal) => {
    const page = await api('GET', `${path}${path.includes('?') ? '&' : '?'}limit=20`, { signal });
    setOlder([]);
    setCursor(page.nextCursor);
    return page;
  }, [path, refreshKey]);

  async function loadOlder() {
    try {
      const page = await api('GET', `${path}${path.includes('?') ? '&' : '?'}${queryString({ limit: 20, cursor }).slice(1)}`);
      setOlder([...older, ...page.items]);
      setCursor(page.nextCursor);
    } catch (loadError) {
      setError(loadError);
    }
  }

  if (first.error) return html`<${ErrorMessage} error=${first.error} title="Could not read the history" />`;
  if (!first.data) return html`<p>Loading the history…</p>`;
  const entries = [...first.data.items, ...older];
  return html`<div class="audit">
    ${entries.length === 0 ? html`<p>No changes recorded.</p>` : html`<ol class="audit-list">${entries.map((entry) => html`<${Entry} key=${entry.id} entry=${entry} />`)}</ol>`}
    <${ErrorMessage} error=${error} title="Could not read older changes" />
    ${cursor && html`<button type="button" onClick=${loadOlder}>Older changes</button>`}
  </div>`;
}
