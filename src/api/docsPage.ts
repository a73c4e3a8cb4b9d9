import type { OpenApiDocument } from './openapi.ts';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function schemaBrief(schema: Record<string, unknown> | undefined): string {
  if (!schema) return '';
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : String(schema.type ?? 'any');
  const items = schema.items as Record<string, unknown> | undefined;
  const extra = [
    schema.enum ? `one of ${(schema.enum as unknown[]).join(', ')}` : '',
    schema.format ? String(schema.format) : '',
    items?.pattern ? `each ${String(items.pattern)}` : '',
    schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : '',
  ].filter(Boolean);
  return extra.length ? `${type} (${extra.join('; ')})` : type;
}

/**
 * The `/docs` page: every operation of the document, as plain HTML. No script and no style, so
 * it is served from the package under `default-src 'none'` and needs nothing from a CDN; any
 * OpenAPI tool renders `/openapi.json` more richly.
 */
export function renderDocsPage(doc: OpenApiDocument): string {
  const out: string[] = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><title>' + escapeHtml(doc.info.title) + '</title></head><body>',
    `<h1>${escapeHtml(doc.info.title)}</h1>`,
    `<p>${escapeHtml(doc.info.description)}</p>`,
    '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>',
  ];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      out.push(`<h2 id="${escapeHtml(op.operationId)}"><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h2>`);
      out.push(
        `<p><strong>${escapeHtml(op.summary)}</strong>${op['x-vigil-role'] ? ` — role: ${op['x-vigil-role']}` : ' — public'}</p>`,
      );
      if (op.description) out.push(`<p>${escapeHtml(op.description)}</p>`);
      if (op.parameters.length) {
        out.push('<table><thead><tr><th>parameter</th><th>in</th><th>type</th><th>meaning</th></tr></thead><tbody>');
        for (const p of op.parameters)
          out.push(
            `<tr><td><code>${escapeHtml(p.name)}</code>${p.required ? ' (required)' : ''}</td><td>${p.in}</td><td>${escapeHtml(schemaBrief(p.schema))}</td><td>${escapeHtml(p.description ?? '')}</td></tr>`,
          );
        out.push('</tbody></table>');
      }
      const body = op.requestBody?.content['application/json']?.schema;
      if (body) {
        const props = (body.properties ?? {}) as Record<string, Record<string, unknown>>;
        out.push(`<p>JSON body${op.requestBody!.required ? '' : ' (optional)'}:</p><ul>`);
        for (const [name, p] of Object.entries(props))
          out.push(
            `<li><code>${escapeHtml(name)}</code>: ${escapeHtml(schemaBrief(p))}${p.description ? ` — ${escapeHtml(String(p.description))}` : ''}</li>`,
          );
        out.push('</ul>');
      }
      out.push(
        '<p>Answers: ' +
          Object.entries(op.responses)
            .map(([status, r]) => `${status} ${escapeHtml(r.description)}`)
            .join('; ') +
          '</p>',
      );
    }
  }
  out.push('</body></html>');
  return out.join('\n');
}
