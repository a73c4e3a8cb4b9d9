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
