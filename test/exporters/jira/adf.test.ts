import { describe, expect, it } from 'vitest';
import { adfToText, textToAdf } from '../../../src/exporters/jira/adf.ts';

describe('Atlassian Document text', () => {
  it('reads a comment as people wrote it: a line per block, hard breaks, mentions by name, list items', () => {
    const doc = {
      type: 'doc',
      version: 1,
      content: [
        {
          type: 'paragraph',
          content: [
            { type: 'mention', attrs: { id: '557058:1', text: '@Sam Ops' } },
            { type: 'text', text: ' rebooted ' },
            { type: 'text', text: 'sw-4', marks: [{ type: 'code' }] },
            { type: 'hardBreak' },
            { type: 'text', text: 'link is back' },
          ],
        },
        {
          type: 'bulletList',
          content: [
            { type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'port 12' }] }] },
            { type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'port 13' }] }] },
          ],
        },
        { type: 'mediaSingle', content: [{ type: 'media', attrs: { id: 'x' } }] },
      ],
    };
    expect(adfToText(doc)).toBe('@Sam Ops rebooted sw-4\nlink is back\nport 12\nport 13');
  });

  it('round-trips what Vigil writes, and reads nothing from what is not a document', () => {
    expect(adfToText(textToAdf('first line\nsecond line'))).toBe('first line\nsecond line');
    expect(adfToText(undefined)).toBe('');
    expect(adfToText('text')).toBe('');
  });
});
