import type { Ticket } from './api.ts';

/** A ticket's reference, a link into its tracker when the tracker gave an http(s) URL (never another scheme). */
export function TicketLink({ t }: { t: Ticket }) {
  return (
    <>
      {t.exporter}:{' '}
      {t.url && /^https?:\/\//.test(t.url) ? (
        <a href={t.url} rel="noreferrer noopener" target="_blank" aria-label={`${t.exporter} ticket ${t.ref}`}>
          {t.ref}
        </a>
      ) : (
        t.ref
      )}
      {t.resolved && ' (resolved)'}
    </>
  );
}
