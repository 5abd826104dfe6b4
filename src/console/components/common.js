// Small pieces every page uses: loading data, errors, values, times, diffs, tables, dialogs.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { showValue } from '../words.js';

/**
 * Loads with `load(signal)` whenever `keys` change; a newer load aborts the older one, so a slow
 * answer never overwrites a newer one. Other keys (another flag) drop what was shown; a reload keeps
 * it on screen until the new answer arrives. `{ data, error, loading, reload }`.
 */
export function useLoad(load, keys) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const [generation, setGeneration] = useState(0);
  const shownFor = useRef(null);
  useEffect(() => {
    const controller = new AbortController();
    const keyText = JSON.stringify(keys);
    const same = shownFor.current === keyText;
    shownFor.current = keyText;
    setState((previous) => (same ? { ...previous, loading: true } : { data: undefined, error: null, loading: true }));
    load(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: null, loading: false });
      },
      (error) => {
        if (!controller.signal.aborted) setState({ data: undefined, error, loading: false });
      },
    );
    return () => controller.abort();
  }, [...keys, generation]);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { ...state, reload };
}

export function Value({ value }) {
  return html`<code class="value">${showValue(value)}</code>`;
}

/** Renders the parts of words.js: text, values as code, links. */
export function Parts({ parts }) {
  return parts.map((part) => (typeof part === 'string' ? part : 'value' in part ? html`<${Value} value=${part.value} />` : html`<a href=${part.link}>${part.text}</a>`));
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function Time({ iso }) {
  if (!iso) return html`<span>—</span>`;
  return html`<time datetime=${iso}>${dateTime.format(new Date(iso))}</time>`;
}

/** "in 3 h", "5 min ago": for expiry and due times. */
export function relativeTime(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  const minutes = Math.round(Math.abs(ms) / 60_000);
  const text = minutes < 1 ? 'less than a minute' : minutes < 120 ? `${minutes} min` : minutes < 48 * 60 ? `${Math.round(minutes / 60)} h` : `${Math.round(minutes / 1440)} days`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** An API error as people read it: the message, and each field the API named. */
export function ErrorMessage({ error, title = 'Something went wrong' }) {
  if (!error) return null;
  const issues = error.details?.issues ?? [];
  return html`<div class="message error" role="alert">
    <p><strong>${title}:</strong> ${error.message}</p>
    ${issues.length > 0 && html`<ul>${issues.map((issue) => html`<li><code>${issue.path}</code>: ${issue.message}</li>`)}</ul>`}
  </div>`;
}

/** A wide table scrolls sideways in a narrow window; the region is focusable so a keyboard can scroll it. */
export function TableWrap({ label, children }) {
  return html`<div class="table-wrap" role="region" aria-label=${label} tabindex="0">${children}</div>`;
}

export function DiffTable({ diff, caption }) {
  if (!diff || diff.length === 0) return html`<p>No differences.</p>`;
  return html`<${TableWrap} label=${caption}>
    <table class="diff">
      <caption>${caption}</caption>
      <thead><tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
      <tbody>
        ${diff.map((change) => html`<tr>
          <th scope="row"><code>${change.path}</code></th>
          <td class="before">${'before' in change ? html`<${Value} value=${change.before} />` : html`<em>not set</em>`}</td>
          <td class="after">${'after' in change ? html`<${Value} value=${change.after} />` : html`<em>removed</em>`}</td>
        </tr>`)}
      </tbody>
    </table>
  <//>`;
}

/**
 * A modal dialog (the browser's own `<dialog>`: it traps focus, Escape closes it, and focus returns
 * to what opened it). Rendered only while open.
 */
export function Dialog({ title, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    dialog.showModal();
    const closed = () => onClose();
    dialog.addEventListener('close', closed);
    return () => {
      dialog.removeEventListener('close', closed);
      if (dialog.open) dialog.close();
    };
  }, []);
  return html`<dialog ref=${ref} aria-labelledby="dialog-title">
    <h2 id="dialog-title">${title}</h2>
    ${children}
  </dialog>`;
}

/** A status line announced to screen readers when it changes. */
export function Status({ children }) {
  return html`<p class="status" role="status">${children}</p>`;
}

/** aria attributes of a field with an optional error (`${id}-error`) and help text (`${id}-help`). */
export function describedBy(id, { error, help }) {
  const ids = [error && `${id}-error`, help && `${id}-help`].filter(Boolean);
  return { 'aria-invalid': error ? 'true' : 'false', 'aria-describedby': ids.length > 0 ? ids.join(' ') : undefined };
}

/** What the API said about a field, next to it. */
export function FieldError({ id, error }) {
  return error ? html`<p id=${`${id}-error`} class="field-error">${error}</p>` : null;
}
