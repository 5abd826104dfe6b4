// Segments, in key order, a page at a time.
import { useEffect, useState } from 'preact/hooks';
import { api, queryString } from '../api.js';
import { html } from '../html.js';
import { ErrorMessage, TableWrap, useLoad } from '../components/common.js';

export function SegmentListPage() {
  const [pages, setPages] = useState([undefined]);
  const list = useLoad((signal) => api('GET', `/v1/segments${queryString({ limit: 50, cursor: pages.at(-1) })}`, { signal }), [pages.at(-1)]);
  useEffect(() => {
    document.title = 'Segments · Flagship';
  }, []);
  const items = list.data?.items ?? [];
  return html`<h1>Segments</h1>
    <${ErrorMessage} error=${list.error} title="Could not list segments" />
    ${list.data && items.length === 0 && html`<p>No segments yet.</p>`}
    ${items.length > 0 && html`<${TableWrap} label="Segments">
      <table>
        <caption class="visually-hidden">Segments, in key order</caption>
        <thead><tr><th scope="col">Key</th><th scope="col">Name</th><th scope="col">Description</th><th scope="col">Conditions</th><th scope="col">Version</th></tr></thead>
        <tbody>${items.map((segment) => html`<tr>
          <th scope="row"><a href=${`#/segments/${encodeURIComponent(segment.key)}`}>${segment.key}</a></th>
          <td>${segment.name}</td><td class="description">${segment.description}</td><td>${segment.conditions.length}</td><td>${segment.version}</td>
        </tr>`)}</tbody>
      </table>
    <//>`}
    <nav class="pager" aria-label="Pages of segments">
      <button type="button" disabled=${pages.length === 1} onClick=${() => setPages(pages.slice(0, -1))}>Previous page</button>
      <span>Page ${pages.length}</span>
      <button type="button" disabled=${!list.data?.nextCursor} onClick=${() => setPages([...pages, list.data.nextCursor])}>Next page</button>
    </nav>`;
}
