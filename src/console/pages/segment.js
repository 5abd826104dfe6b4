// One segment: its conditions in plain words, a form to change it, its history.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { html } from '../html.js';
import { AuditHistory } from '../components/audit-history.js';
import { ChangeEditor, JsonField } from '../components/change-editor.js';
import { ErrorMessage, Parts, Time, useLoad } from '../components/common.js';
import { conditionParts } from '../words.js';

function segmentDefinition(segment) {
  return { key: segment.key, name: segment.name, description: segment.description, conditions: segment.conditions };
}

function SegmentForm({ draft, onDraft, onProblem }) {
  return html`<div class="form-grid">
    <div class="field"><label for="s-name">Name</label>
      <input id="s-name" value=${draft.name ?? ''} required onInput=${(event) => onDraft({ ...draft, name: event.currentTarget.value })} /></div>
    <div class="field wide"><label for="s-description">Description</label>
      <textarea id="s-description" rows="2" value=${draft.description ?? ''} onInput=${(event) => onDraft({ ...draft, description: event.currentTarget.value })}></textarea></div>
    <div class="wide"><${JsonField} id="s-conditions" label="Conditions (JSON, all must hold)" value=${draft.conditions ?? []} rows=${10}
      help='Each { "attribute", "op", "value", "negate"? }.' onChange=${(value) => onDraft({ ...draft, conditions: value ?? [] })} onProblem=${onProblem} /></div>
  </div>`;
}

export function SegmentPage({ segmentKey }) {
  const path = `/v1/segments/${encodeURIComponent(segmentKey)}`;
  const segment = useLoad((signal) => api('GET', path, { signal }), [segmentKey]);
  const [editing, setEditing] = useState(false);
  const [savedVersion, setSavedVersion] = useState(null);
  useEffect(() => {
    document.title = `${segmentKey} · Segments · Flagship`;
  }, [segmentKey]);
  if (segment.error) return html`<h1>${segmentKey}</h1><${ErrorMessage} error=${segment.error} title="Could not read the segment" />`;
  if (!segment.data) return html`<h1>${segmentKey}</h1><p role="status">Loading…</p>`;
  const s = segment.data;
  return html`<p class="crumbs"><a href="#/segments">Segments</a></p>
    <h1>${s.name} <small>(${s.key})</small></h1>
    <p class="lead">${s.description || html`<em>No description.</em>`}</p>
    <p>Version ${s.version}, updated <${Time} iso=${s.updatedAt} /> by ${s.updatedBy}.</p>
    <section aria-labelledby="segment-conditions">
      <h2 id="segment-conditions">Who is in it</h2>
      ${s.conditions.length === 0 ? html`<p>Everyone: it has no conditions.</p>` : html`<p>A context is in this segment when all of these hold:</p>
        <ul>${s.conditions.map((condition) => html`<li><${Parts} parts=${conditionParts(condition)} /></li>`)}</ul>`}
    </section>
    <section aria-labelledby="segment-edit">
      <h2 id="segment-edit">Change it</h2>
      ${editing
        ? html`<${ChangeEditor} resource=${s} definitionOf=${segmentDefinition} Form=${SegmentForm} noun="segment"
            load=${() => api('GET', path)}
            save=${(patch, version) => api('PATCH', path, { body: patch, headers: { 'if-match': `"${version}"` } })}
      preview=${(patch, version) => api('PATCH', `${path}?dryRun=true`, { body: patch, headers: { 'if-match': `"${version}"` } })}
            onSaved=${(saved) => {
              setSavedVersion(saved.version);
              setEditing(false);
              segment.reload();
            }} />`
        : html`${savedVersion && html`<p class="message success" role="status">Saved: the segment is now at version ${savedVersion}.</p>`}
          <button type="button" onClick=${() => { setSavedVersion(null); setEditing(true); }}>Edit</button>`}
    </section>
    <section aria-labelledby="segment-history">
      <h2 id="segment-history">History</h2>
      <${AuditHistory} path=${`/v1/audit?entityType=segment&entityKey=${encodeURIComponent(s.key)}`} refreshKey=${s.version} />
    </section>`;
}
