// Flags: server-side search and filters, cursor pages. Every keystroke asks the API (which searches
// 10,000 flags in milliseconds through its trigram index) and aborts the request before it, so the
// list always shows the answer to what is in the boxes now.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, hasScope, queryString } from '../api.js';
import { html } from '../html.js';
import { ErrorMessage, Parts, Status, TableWrap, Time, useLoad } from '../components/common.js';
import { staleParts } from '../words.js';

const PAGE_SIZE = 50;

/**
 * The list's filters, each a query parameter of GET /v1/flags. The API lists stale flags by owner
 * only (`withStale`): the other filters are set aside, not sent, while "Stale only" is chosen.
 */
const FILTERS = [
  { name: 'q', label: 'Search', kind: 'search', help: 'Part of a key, description or tag' },
  { name: 'tag', label: 'Tag', kind: 'text' },
  { name: 'prefix', label: 'Key prefix', kind: 'text' },
  { name: 'owner', label: 'Owner', kind: 'text', withStale: true },
  { name: 'state', label: 'State', options: [['', 'Any'], ['active', 'Active'], ['archived', 'Archived']] },
  { name: 'type', label: 'Type', options: [['', 'Any'], ['boolean', 'boolean'], ['string', 'string'], ['number', 'number'], ['json', 'json']] },
  { name: 'stale', label: 'Stale', options: [['', 'Any'], ['true', 'Stale only']], withStale: true },
];

function filtersFrom(params) {
  return Object.fromEntries(FILTERS.map((filter) => [filter.name, params.get(filter.name) ?? '']));
}

/** What is asked of the API: with "Stale only", the filters the stale list takes. */
function sentFilters(filters) {
  if (filters.stale !== 'true') return filters;
  return Object.fromEntries(FILTERS.filter((filter) => filter.withStale).map((filter) => [filter.name, filters[filter.name]]));
}

function FilterField({ filter, value, disabled, onChange }) {
  const id = `filter-${filter.name}`;
  const changed = (event) => onChange(filter.name, event.currentTarget.value);
  if (filter.options) {
    return html`<div class="field"><label for=${id}>${filter.label}</label>
      <select id=${id} value=${value} disabled=${disabled} onChange=${changed}>${filter.options.map(([option, label]) => html`<option value=${option}>${label}</option>`)}</select></div>`;
  }
  return html`<div class="field"><label for=${id}>${filter.label}</label>
    <input id=${id} type=${filter.kind} value=${value} disabled=${disabled} onInput=${changed} autocomplete="off" spellcheck="false"
      placeholder=${filter.help ?? ''} /></div>`;
}

function FlagRow({ flag, showStale }) {
  const serving = flag.state === 'archived' ? 'archived' : flag.enabled === false ? 'disabled' : 'enabled';
  return html`<tr>
    <th scope="row"><a href=${`#/flags/${encodeURIComponent(flag.key)}`}>${flag.key}</a></th>
    <td>${flag.type}</td>
    <td><span class=${`badge ${serving}`}>${serving}</span>${flag.highImpact && html` <span class="badge high-impact">high-impact</span>`}</td>
    <td>${flag.tags.join(', ')}</td>
    <td>${flag.owner ?? '—'}</td>
    ${showStale && html`<td class="stale-reason"><${Parts} parts=${flag.stale ? staleParts(flag.stale) : ['—']} /></td>`}
    <td class="description">${flag.description}</td>
    <td>${flag.version}</td>
    <td><${Time} iso=${flag.updatedAt} /></td>
  </tr>`;
}

export function FlagListPage({ me, params }) {
  const [filters, setFilters] = useState(() => filtersFrom(params));
  // Cursors of the pages seen so far: the first page has none.
  const [pages, setPages] = useState([undefined]);
  const startedAt = useRef(performance.now());
  const [elapsedMs, setElapsedMs] = useState(null);
  useEffect(() => {
    document.title = 'Flags · Flagship';
  }, []);

  const cursor = pages.at(-1);
  const staleOnly = filters.stale === 'true';
  const list = useLoad((signal) => api('GET', `/v1/flags${queryString({ ...sentFilters(filters), limit: PAGE_SIZE, cursor })}`, { signal }), [JSON.stringify(filters), cursor]);

  // Measured from the keystroke to the rows being in the document: what the person waits for.
  useLayoutEffect(() => {
    if (!list.loading && list.data) setElapsedMs(Math.round(performance.now() - startedAt.current));
  }, [list.data, list.loading]);

  function change(name, value) {
    const next = { ...filters, [name]: value };
    startedAt.current = performance.now();
    setFilters(next);
    setPages([undefined]);
    history.replaceState(null, '', `#/flags${queryString(next)}`);
  }

  const items = list.data?.items ?? [];
  return html`<div class="title-row"><h1>Flags</h1>
      ${hasScope(me, 'feature_flag:manage') && html`<a class="button primary" href="#/new-flag">New flag</a>`}</div>
    <form class="filters" role="search" aria-label="Flags" onSubmit=${(event) => event.preventDefault()}>
      ${FILTERS.map((filter) => html`<${FilterField} filter=${filter} value=${filters[filter.name]} disabled=${staleOnly && !filter.withStale} onChange=${change} />`)}
    </form>
    ${staleOnly && html`<p class="help" id="stale-help">Stale flags: active flags nobody evaluates, that serve one value to everyone, or that outlived their expected lifetime. Listed by owner only; the other filters wait.</p>`}
    <${ErrorMessage} error=${list.error} title="Could not list flags" />
    <${Status}>${list.loading ? 'Searching…' : list.data ? `${items.length === 0 ? 'No flags match' : `${items.length} flag${items.length === 1 ? '' : 's'} shown${list.data.nextCursor ? ', more on the next page' : ''}`}${elapsedMs === null ? '' : ` · ${elapsedMs} ms`}` : ''}<//>
    <div class="results" data-state=${list.loading ? 'loading' : 'ready'} aria-busy=${list.loading ? 'true' : 'false'}>
      ${items.length > 0 && html`<${TableWrap} label="Flags found">
        <table>
          <caption class="visually-hidden">Flags, in key order</caption>
          <thead><tr><th scope="col">Key</th><th scope="col">Type</th><th scope="col">Serving</th><th scope="col">Tags</th><th scope="col">Owner</th>${staleOnly && html`<th scope="col">Stale because</th>`}<th scope="col">Description</th><th scope="col">Version</th><th scope="col">Updated</th></tr></thead>
          <tbody>${items.map((flag) => html`<${FlagRow} key=${flag.key} flag=${flag} showStale=${staleOnly} />`)}</tbody>
        </table>
      <//>`}
    </div>
    <nav class="pager" aria-label="Pages of flags">
      <button type="button" disabled=${pages.length === 1} onClick=${() => { startedAt.current = performance.now(); setPages(pages.slice(0, -1)); }}>Previous page</button>
      <span>Page ${pages.length}</span>
      <button type="button" disabled=${!list.data?.nextCursor} onClick=${() => { startedAt.current = performance.now(); setPages([...pages, list.data.nextCursor]); }}>Next page</button>
    </nav>`;
}
