import { useEffect, useState } from 'preact/hooks';

/** The console lives under /ui/: its pages are paths there, its filters the query string. */
export const BASE = '/ui';

const CHANGED = 'vigil:navigate';

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new Event(CHANGED));
}

export function useLocation(): { path: string; search: URLSearchParams } {
  const read = () => ({ path: location.pathname, search: new URLSearchParams(location.search) });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const on = () => setLoc(read());
    window.addEventListener('popstate', on);
    window.addEventListener(CHANGED, on);
    return () => {
      window.removeEventListener('popstate', on);
      window.removeEventListener(CHANGED, on);
    };
  }, []);
  return loc;
}

/** A click on an in-console link changes the page without reloading it (a modified click opens a tab as usual). */
export function follow(e: MouseEvent): void {
  const a = (e.currentTarget as HTMLAnchorElement | null)?.closest('a');
  if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href')!);
}
