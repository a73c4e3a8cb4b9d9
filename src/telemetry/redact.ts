/**
 * Keeps secrets out of logs and error messages: a URL's password (`https://user:pw@host`) and
 * the values of fields named like credentials. Config values are expanded from `${file:}` and
 * `${env:}` before anything logs them, so the masking has to happen where they are printed.
 */
export const REDACTED = '[redacted]';

/** The URL with the password of its user-info replaced; anything unparsable is returned as is. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (!u.password) return url;
  u.password = REDACTED;
  return u.toString().replace(encodeURIComponent(REDACTED), REDACTED);
}

/** Field names whose values pino masks at the top level and one level down (`err.config.password`...). */
const SECRET_KEYS = [
  'password',
  'token',
  'secret',
  'authorization',
  'app_token',
  'user_token',
  'api_token',
  'routing_key',
  'apiKey',
  'api_key',
];

export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.headers.${k}`, `headers.${k}`]);
