/** Atlassian Document Format for Jira Cloud v3: one paragraph per non-empty line (ADF refuses empty text nodes). */
export function textToAdf(text: string): object {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return {
    type: 'doc',
    version: 1,
    content: (lines.length ? lines : ['(no details)']).map((line) => ({
      type: 'paragraph',
      content: [{ type: 'text', text: line }],
    })),
  };
}

/** ADF nodes that end a line of text. */
const BLOCKS = new Set(['paragraph', 'heading', 'codeBlock', 'blockquote', 'listItem', 'tableCell', 'panel']);

/** The text of an Atlassian Document (Jira Cloud v3 comments): a line per block, mentions by name, marks and media dropped. */
export function adfToText(doc: unknown): string {
  const lines: string[] = [];
  let line = '';
  const walk = (node: unknown): void => {
    const n = node as { type?: unknown; text?: unknown; content?: unknown; attrs?: { text?: unknown } } | null;
    if (!n || typeof n !== 'object') return;
    if (typeof n.text === 'string') line += n.text;
    else if (n.type === 'mention' && typeof n.attrs?.text === 'string') line += n.attrs.text;
    if (n.type === 'hardBreak' || BLOCKS.has(String(n.type))) {
      lines.push(line);
      line = '';
    }
    if (Array.isArray(n.content)) for (const c of n.content) walk(c);
    if (BLOCKS.has(String(n.type))) {
      lines.push(line);
      line = '';
    }
  };
  walk(doc);
  lines.push(line);
  return lines.filter((l) => l.trim() !== '').join('\n');
}
