// A new flag: its key, type, description, tags, default value and named variants, sent as they are
// to POST /v1/flags. The API is the one judge of what is valid: what it refuses comes back as issues
// with paths (`key`, `tags[1]`, `variants.dark`), and each is shown next to the field it names.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { html } from '../html.js';
import { describedBy, FieldError } from '../components/common.js';
import { ValueField } from '../components/value-field.js';

const TYPES = ['boolean', 'string', 'number', 'json'];

/** What a new value field holds for each type, so a boolean flag starts off false rather than unset. */
const FIRST_VALUE = { boolean: false, string: '', number: undefined, json: undefined };

/** Each variant row's own id: a row keeps its fields (focus, JSON being typed) when one above is removed. */
let variantRowIds = 0;

const FIELDS = { key: 'c-key', type: 'c-type', description: 'c-description', tags: 'c-tags', defaultValue: 'c-default', variants: 'c-variants' };

/**
 * Where an issue of the API belongs and how it reads there: `tags[1]` → the tags field, as "Tag 2:
 * …"; `variants.dark` or `variants["long wording"]` → that row (names may hold dots, so the rows' names
 * are matched whole); anything else the form has no field for → `null`.
 */
export function placeIssue(issue, variants) {
  // The API quotes a name that is not an identifier: `variants["long wording"]`.
  const rowPaths = (name) => [`variants.${name}`, `variants[${JSON.stringify(name)}]`];
  const row = variants.find(({ name }) => name !== '' && rowPaths(name).some((path) => issue.path === path || issue.path.startsWith(`${path}.`) || issue.path.startsWith(`${path}[`)));
  if (row) return { field: `c-variant-${row.id}`, message: issue.message };
  const tag = /^tags\[(\d+)\]/.exec(issue.path);
  if (tag) return { field: FIELDS.tags, message: `Tag ${Number(tag[1]) + 1}: ${issue.message}` };
  const field = FIELDS[issue.path.split(/[.[]/)[0]];
  return field ? { field, message: issue.path.includes('.') || issue.path.includes('[') ? `${issue.path}: ${issue.message}` : issue.message } : null;
}

/**
 * The API's refusal, field by field: `{ byField: { id: text }, unplaced: [issues] }`. A key that
 * exists already (a version_conflict on create: keys are never reused) belongs to the key.
 */
export function placeIssues(error, variants) {
  const byField = {};
  const unplaced = [];
  const issues = error.code === 'version_conflict' ? [{ path: 'key', message: error.message }] : (error.details?.issues ?? []);
  for (const issue of issues) {
    const placed = placeIssue(issue, variants);
    if (!placed) unplaced.push(issue);
    else byField[placed.field] = byField[placed.field] ? `${byField[placed.field]}; ${placed.message}` : placed.message;
  }
  return { byField, unplaced };
}

/** Rows named alike would silently become one variant: each such row says so, and nothing is sent. */
export function repeatedVariantNames(variants) {
  const seen = new Set();
  const repeated = {};
  for (const { id, name } of variants) {
    if (name !== '' && seen.has(name)) repeated[`c-variant-${id}`] = `Another variant is named ${name}.`;
    seen.add(name);
  }
  return repeated;
}

function VariantRows({ type, variants, errors, onVariants, onProblem }) {
  const set = (index, row) => onVariants(variants.map((existing, at) => (at === index ? row : existing)));
  const help = 'Named values that rules and distributions can serve; none is needed.';
  return html`<fieldset class="variants" aria-describedby=${describedBy('c-variants', { error: errors['c-variants'], help })['aria-describedby']}>
    <legend>Variants</legend>
    <p id="c-variants-help" class="help">${help}</p>
    <${FieldError} id="c-variants" error=${errors['c-variants']} />
    ${variants.map((variant, index) => {
      const id = `c-variant-${variant.id}`;
      const error = errors[id];
      return html`<div class="variant-row" key=${variant.id}>
        <div class="field"><label for=${`${id}-name`}>Variant ${index + 1} name</label>
          <input id=${`${id}-name`} value=${variant.name} autocomplete="off" spellcheck="false" ...${describedBy(id, { error })}
            onInput=${(event) => set(index, { ...variant, name: event.currentTarget.value })} /></div>
        <${ValueField} key=${type} id=${`${id}-value`} label=${`Variant ${index + 1} value`} type=${type} value=${variant.value}
          onChange=${(value) => set(index, { ...variant, value })} onProblem=${onProblem} />
        <button type="button" onClick=${() => {
          onProblem(`${id}-value`, null);
          onVariants(variants.filter((_, at) => at !== index));
        }}>Remove variant ${index + 1}</button>
        <${FieldError} id=${id} error=${error} />
      </div>`;
    })}
    <button type="button" onClick=${() => onVariants([...variants, { id: (variantRowIds += 1), name: '', value: FIRST_VALUE[type] }])}>Add a variant</button>
  </fieldset>`;
}

/** The request body: what the form holds, the default value only when there is one (the API says it is missing). */
export function newFlagBody(form) {
  const body = {
    key: form.key.trim(),
    type: form.type,
    description: form.description,
    tags: form.tags.split(',').map((tag) => tag.trim()).filter(Boolean),
    variants: Object.fromEntries(form.variants.map((variant) => [variant.name.trim(), variant.value])),
  };
  if (form.defaultValue !== undefined) body.defaultValue = form.defaultValue;
  return body;
}

export function FlagCreatePage() {
  const [form, setForm] = useState({ key: '', type: 'boolean', description: '', tags: '', defaultValue: false, variants: [] });
  const [problems, setProblems] = useState({});
  const [refusal, setRefusal] = useState(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  useEffect(() => {
    document.title = 'New flag · Flagship';
  }, []);

  const variants = form.variants.map((variant) => ({ ...variant, name: variant.name.trim() }));
  const placed = refusal ? placeIssues(refusal, variants) : { byField: {}, unplaced: [] };
  const repeated = repeatedVariantNames(variants);
  const errors = { ...placed.byField, ...repeated };
  const blocked = Object.values(problems).some(Boolean) || Object.keys(repeated).length > 0;
  const update = (change) => setForm((previous) => ({ ...previous, ...change }));
  const noteProblem = (id, problem) => setProblems((previous) => ({ ...previous, [id]: problem }));

  useLayoutEffect(() => {
    // After a refusal the first field it names takes the focus, as after a server-rendered form; in
    // the same commit that shows the refusal, so nobody meets the alert with the focus elsewhere.
    if (refusal) formRef.current?.querySelector('[aria-invalid="true"]')?.focus();
  }, [refusal]);

  async function submit(event) {
    event.preventDefault();
    if (blocked || busy) return;
    setBusy(true);
    try {
      const created = await api('POST', '/v1/flags', { body: newFlagBody(form) });
      location.hash = `#/flags/${encodeURIComponent(created.key)}`;
    } catch (error) {
      setRefusal(error);
    } finally {
      setBusy(false);
    }
  }

  const keyHelp = 'Lower-case letters, digits, ".", "_" and "-"; at most 128 characters. Never reused, even after archiving.';
  const tagsHelp = 'Separated by commas; each of letters, digits and "._:/-", no spaces.';
  return html`<p class="crumbs"><a href="#/flags">Flags</a> › New flag</p>
    <h1>New flag</h1>
    <p>A new flag is enabled and serves its default value to everyone; its rules, rollout and other values are set on its edit page.</p>
    ${refusal && html`<div class="message error" role="alert">
      <p><strong>The API refused the flag:</strong> ${refusal.message}</p>
      ${placed.unplaced.length > 0 && html`<ul>${placed.unplaced.map((issue) => html`<li><code>${issue.path}</code>: ${issue.message}</li>`)}</ul>`}
      ${Object.keys(placed.byField).length > 0 && html`<p>Each field it named says why.</p>`}
    </div>`}
    <form class="editor" ref=${formRef} onSubmit=${submit}>
      <div class="form-grid">
        <div class="field"><label for="c-key">Key</label>
          <input id="c-key" value=${form.key} required autocomplete="off" spellcheck="false" ...${describedBy('c-key', { error: errors['c-key'], help: keyHelp })}
            onInput=${(event) => update({ key: event.currentTarget.value })} />
          <${FieldError} id="c-key" error=${errors['c-key']} />
          <p id="c-key-help" class="help">${keyHelp}</p></div>
        <div class="field"><label for="c-type">Type</label>
          <select id="c-type" value=${form.type} ...${describedBy('c-type', { error: errors['c-type'] })}
            onChange=${(event) => {
              const type = event.currentTarget.value;
              // Values typed for the old type mean nothing in the new one.
              setProblems({});
              update({ type, defaultValue: FIRST_VALUE[type], variants: form.variants.map((variant) => ({ ...variant, value: FIRST_VALUE[type] })) });
            }}>
            ${TYPES.map((type) => html`<option value=${type}>${type}</option>`)}
          </select>
          <${FieldError} id="c-type" error=${errors['c-type']} /></div>
        <div class="field wide"><label for="c-description">Description</label>
          <textarea id="c-description" rows="2" value=${form.description} ...${describedBy('c-description', { error: errors['c-description'] })}
            onInput=${(event) => update({ description: event.currentTarget.value })}></textarea>
          <${FieldError} id="c-description" error=${errors['c-description']} /></div>
        <div class="field"><label for="c-tags">Tags</label>
          <input id="c-tags" value=${form.tags} autocomplete="off" spellcheck="false" ...${describedBy('c-tags', { error: errors['c-tags'], help: tagsHelp })}
            onInput=${(event) => update({ tags: event.currentTarget.value })} />
          <${FieldError} id="c-tags" error=${errors['c-tags']} />
          <p id="c-tags-help" class="help">${tagsHelp}</p></div>
        <${ValueField} key=${form.type} id="c-default" label="Default value" type=${form.type} value=${form.defaultValue} error=${errors['c-default']}
          help="Served to everyone until rules or a rollout say otherwise." onChange=${(defaultValue) => update({ defaultValue })} onProblem=${noteProblem} />
        <div class="wide"><${VariantRows} type=${form.type} variants=${form.variants} errors=${errors}
          onVariants=${(variants) => update({ variants })} onProblem=${noteProblem} /></div>
      </div>
      <div class="actions"><button type="submit" class="primary" disabled=${blocked || busy}>Create flag</button>
        <a class="button" href="#/flags">Cancel</a></div>
    </form>`;
}
