/**
 * A logic-less template language, a subset of Mustache: `{{path.to.value}}` inserts a value
 * (escaped for the target: HTML for GLPI, mrkdwn for Slack), `{{#list}}…{{/list}}` repeats a
 * block for each item of a list (or once for a present, non-empty value), `{{^name}}…{{/name}}`
 * renders a block when the value is missing, empty or false, and `{{.}}` is the current item.
 * Names are looked up from the innermost block outwards. No code ever runs from config.
 */

type Node = string | { tag: 'var'; path: string[] } | { tag: 'section' | 'inverted'; path: string[]; children: Node[] };

export interface Template {
  readonly source: string;
  render(context: object, escape?: (text: string) => string): string;
}

export class TemplateError extends Error {}

const TAG = /\{\{\s*([#^/]?)\s*([^}]*?)\s*\}\}/g;
const NAME = /^(\.|[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*)$/;

/**
 * What a template may name: nested fields, `'leaf'` for a value, `'any'` for a map whose keys
 * come from data (incident labels), and `{ list: … }` for a list a section repeats over.
 */
export type TemplateShape = {
  readonly [name: string]: TemplateShape | 'leaf' | 'any' | { readonly list: TemplateShape | 'leaf' };
};

type Frame = TemplateShape | 'leaf' | 'any';

function isList(v: unknown): v is { list: TemplateShape | 'leaf' } {
  return typeof v === 'object' && v !== null && 'list' in v && Object.keys(v).length === 1;
}

/** Names in `nodes` that `frames` (innermost last) do not have, as the template spells them. */
function unknownNames(nodes: Node[], frames: Frame[]): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    if (typeof n === 'string') continue;
    const name = n.path.join('.') || '.';
    let found: Frame | { list: TemplateShape | 'leaf' } | undefined;
    if (n.path.length === 0) found = frames.at(-1);
    else {
      for (let i = frames.length - 1; i >= 0 && found === undefined; i--) {
        const f = frames[i]!;
        if (f === 'any') found = 'leaf';
        else if (f !== 'leaf' && Object.hasOwn(f, n.path[0]!)) found = f[n.path[0]!];
      }
      for (const p of n.path.slice(1)) {
        if (found === undefined || found === 'leaf' || isList(found)) found = undefined;
        else if (found === 'any') found = 'leaf';
        else found = Object.hasOwn(found, p) ? found[p] : undefined;
      }
    }
    if (found === undefined) out.push(name);
    if (n.tag !== 'var')
      out.push(...unknownNames(n.children, [...frames, isList(found) ? found.list : (found ?? 'any')]));
  }
  return out;
}

export function compileTemplate(source: string, shape?: TemplateShape): Template {
  const root: Node[] = [];
  const stack: { name: string; children: Node[] }[] = [{ name: '', children: root }];
  let last = 0;
  for (const m of source.matchAll(TAG)) {
    const [whole, sigil, name] = m as unknown as [string, string, string];
    const top = stack.at(-1)!;
    if (m.index > last) top.children.push(source.slice(last, m.index));
    last = m.index + whole.length;
    if (!NAME.test(name))
      throw new TemplateError(`"${whole}" is not a valid tag: names are letters, digits, _ and -, joined by dots`);
    const path = name === '.' ? [] : name.split('.');
    if (sigil === '') top.children.push({ tag: 'var', path });
    else if (sigil === '/') {
      if (top.name !== name)
        throw new TemplateError(
          top.name
            ? `"${whole}" closes nothing open; expected {{/${top.name}}}`
            : `"${whole}" closes a block that was never opened`,
        );
      stack.pop();
    } else {
      const node: Node = { tag: sigil === '#' ? 'section' : 'inverted', path, children: [] };
      top.children.push(node);
      stack.push({ name, children: node.children });
    }
  }
  if (stack.length > 1) throw new TemplateError(`{{#${stack.at(-1)!.name}}} is never closed`);
  if (last < source.length) root.push(source.slice(last));
  if (shape) {
    const unknown = [...new Set(unknownNames(root, [shape]))];
    if (unknown.length)
      throw new TemplateError(
        `${unknown.map((u) => `{{${u}}}`).join(', ')} ${unknown.length === 1 ? 'names nothing' : 'name nothing'} a notification has; use ${describeShape(shape)}`,
      );
  }
  return { source, render: (context, escape = (s) => s) => renderNodes(root, [context], escape) };
}

function lookup(stack: unknown[], path: string[]): unknown {
  if (path.length === 0) return stack.at(-1);
  for (let i = stack.length - 1; i >= 0; i--) {
    const frame = stack[i];
    if (frame !== null && typeof frame === 'object' && path[0]! in frame) {
      let v: unknown = frame;
      for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
      return v;
    }
  }
  return undefined;
}

/**
 * Control characters (but tab and newline), DEL, C1 controls, zero-width and bidirectional
 * overrides: invisible in a ticket, they can make an inserted value read as something else.
 */
const CONTROLS =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

export function stripControls(text: string): string {
  return text.replace(CONTROLS, '');
}

/** An inserted value in HTML text or a double-quoted attribute (GLPI content, email HTML bodies). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || v === false || v === '' || (Array.isArray(v) && v.length === 0);
}

function renderNodes(nodes: Node[], stack: unknown[], escape: (text: string) => string): string {
  let out = '';
  for (const n of nodes) {
    if (typeof n === 'string') out += n;
    else if (n.tag === 'var') {
      const v = lookup(stack, n.path);
      if (!isEmpty(v)) out += escape(stripControls(typeof v === 'object' ? JSON.stringify(v) : String(v)));
    } else {
      const v = lookup(stack, n.path);
      if (n.tag === 'inverted') {
        if (isEmpty(v)) out += renderNodes(n.children, stack, escape);
      } else if (Array.isArray(v)) {
        for (const item of v) out += renderNodes(n.children, [...stack, item], escape);
      } else if (!isEmpty(v)) out += renderNodes(n.children, [...stack, v], escape);
    }
  }
  return out;
}

/** The names a shape offers, for an error message: `incident.title`, `label.<name>`, `labels` (a list)... */
function describeShape(shape: TemplateShape, prefix = ''): string {
  const names: string[] = [];
  for (const [k, v] of Object.entries(shape)) {
    if (v === 'leaf') names.push(prefix + k);
    else if (v === 'any') names.push(`${prefix}${k}.<name>`);
    else if (isList(v)) names.push(`${prefix}${k} (a list)`);
    else names.push(describeShape(v, `${prefix}${k}.`));
  }
  return names.join(', ');
}
