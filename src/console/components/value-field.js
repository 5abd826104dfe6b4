// A value of a flag's type in a form: a choice for booleans, a number or text box, JSON for json.
import { html } from '../html.js';
import { JsonField } from './change-editor.js';
import { describedBy, FieldError } from './common.js';

/** A value of the flag's type; optional ones can be left unset. `error` is what the API said about it. */
export function ValueField({ id, label, type, value, optional, help, error, onChange, onProblem }) {
  if (type === 'json') return html`<${JsonField} id=${id} label=${label} value=${value} help=${help} error=${error} rows=${4} onChange=${onChange} onProblem=${onProblem} />`;
  const unset = value === undefined;
  const notes = html`<${FieldError} id=${id} error=${error} />${help && html`<p id=${`${id}-help`} class="help">${help}</p>`}`;
  if (type === 'boolean') {
    return html`<div class="field"><label for=${id}>${label}</label>
      <select id=${id} value=${unset ? '' : String(value)} ...${describedBy(id, { error, help })}
        onChange=${(event) => onChange(event.currentTarget.value === '' ? undefined : event.currentTarget.value === 'true')}>
        ${optional && html`<option value="">not set</option>`}<option value="true">true</option><option value="false">false</option>
      </select>${notes}</div>`;
  }
  return html`<div class="field"><label for=${id}>${label}</label>
    <input id=${id} type=${type === 'number' ? 'number' : 'text'} step="any" value=${unset ? '' : String(value)} required=${!optional}
      ...${describedBy(id, { error, help })}
      onInput=${(event) => {
        const text = event.currentTarget.value;
        if (text === '' && optional) onChange(undefined);
        else onChange(type === 'number' ? Number(text) : text);
      }} />${notes}</div>`;
}
