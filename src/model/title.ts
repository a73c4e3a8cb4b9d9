import type { AttrValue } from './attributes.ts';

/** First line of the body, at most 200 characters: a usable title when the sender gave none. */
export function defaultTitle(body: AttrValue): string {
  if (typeof body !== 'string') return '';
  const nl = body.indexOf('\n');
  const line = nl === -1 ? body : body.slice(0, nl);
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
