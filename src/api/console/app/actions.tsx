import { useEffect, useRef, useState } from 'preact/hooks';
import { act, type Action, type Incident, type IncidentDetail } from './api.ts';

/**
 * The actions an operator may take on an incident, as buttons; comment and assign ask for
 * their text in a dialog. Shown only to roles that may act: the caller decides.
 */
export function IncidentActions({
  incident,
  onDone,
  compact,
}: {
  incident: Incident;
  onDone?: (d: IncidentDetail) => void;
  compact?: boolean;
}) {
  const [error, setError] = useState('');
  const [ask, setAsk] = useState<'comment' | 'assign' | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState('');
  const run = async (a: Action) => {
    setError('');
    try {
      // Not onDone?.(await …): an absent onDone would skip the action itself.
      const done = await act(incident.id, a);
      onDone?.(done);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const open = (what: 'comment' | 'assign') => {
    setAsk(what);
    setText(what === 'assign' ? (incident.assignee ?? '') : '');
  };
  // The dialog exists only while asked: a long list renders no dialog per row.
  useEffect(() => {
    if (ask && !dialog.current?.open) dialog.current?.showModal();
  }, [ask]);
  const close = () => {
    dialog.current?.close();
    setAsk(null);
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    close();
    await run(ask === 'comment' ? { kind: 'comment', text } : { kind: 'assign', assignee: text });
  };
  const label = (verb: string) => `${verb} ${incident.title}`;
  const resolved = incident.status === 'resolved';
  return (
    <div class={compact ? 'actions compact' : 'actions'}>
      {incident.status === 'open' && (
        <button type="button" aria-label={label('Acknowledge')} onClick={() => void run({ kind: 'acknowledge' })}>
          Acknowledge
        </button>
      )}
      {!resolved && (
        <button type="button" aria-label={label('Resolve')} onClick={() => void run({ kind: 'resolve' })}>
          Resolve
        </button>
      )}
      {resolved && (
        <button type="button" aria-label={label('Reopen')} onClick={() => void run({ kind: 'reopen' })}>
          Reopen
        </button>
      )}
      <button type="button" aria-label={label('Comment on')} onClick={() => open('comment')}>
        Comment
      </button>
      {!resolved && (
        <button type="button" aria-label={label('Assign')} onClick={() => open('assign')}>
          Assign
        </button>
      )}
      {error && (
        <span role="alert" class="error">
          {error}
        </span>
      )}
      {ask && (
        <dialog ref={dialog} aria-labelledby={`dlg-${incident.id}`} onClose={() => setAsk(null)}>
          <form onSubmit={submit}>
            <h2 id={`dlg-${incident.id}`}>{ask === 'comment' ? 'Comment' : 'Assign'}</h2>
            <p>{incident.title}</p>
            <label for={`dlg-text-${incident.id}`}>{ask === 'comment' ? 'Comment' : 'Assignee (empty: nobody)'}</label>
            {ask === 'comment' ? (
              <textarea
                id={`dlg-text-${incident.id}`}
                required
                value={text}
                onInput={(e) => setText(e.currentTarget.value)}
              />
            ) : (
              <input id={`dlg-text-${incident.id}`} value={text} onInput={(e) => setText(e.currentTarget.value)} />
            )}
            <div class="buttons">
              <button type="submit">{ask === 'comment' ? 'Add comment' : 'Assign'}</button>
              <button type="button" onClick={close}>
                Cancel
              </button>
            </div>
          </form>
        </dialog>
      )}
    </div>
  );
}
