import { ForbiddenError, InputError } from '../errors';

/**
 * What an API key may do. `ingest` is what the SDK embedded in app servers needs (log interactions and feedback);
 * `review` reads and decides graduation candidates (the review page); `admin` may do everything, including any route
 * that names no scope (fail closed: a route added without a scope is admin-only until someone says otherwise).
 * Kept apart so a leaked app-server key can add traffic but never approve what gets served.
 */
export const SCOPES = ['ingest', 'review', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const DESCRIPTIONS: Record<Scope, string> = {
  ingest: 'log interactions and feedback (the SDK in app servers)',
  review: 'list, show and decide graduation candidates (the review page)',
  admin: 'everything',
};

export function describeScope(s: Scope): string {
  return DESCRIPTIONS[s];
}

/** Whether keys with `granted` may use a route that needs `needed` (admin grants every scope). */
export function hasScope(granted: readonly string[], needed: Scope): boolean {
  return granted.includes(needed) || granted.includes('admin');
}

/** "ingest,review" → ['ingest','review'] (deduplicated, in SCOPES order); an unknown or empty list is an InputError. */
export function parseScopes(raw: string, field = 'scopes'): Scope[] {
  const parts = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new InputError(field, `name at least one scope: a comma-separated list of ${SCOPES.join(', ')}`);
  for (const p of parts) {
    if (!(SCOPES as readonly string[]).includes(p)) throw new InputError(field, `unknown scope "${p}": use a comma-separated list of ${SCOPES.join(', ')}`);
  }
  return SCOPES.filter((s) => parts.includes(s));
}

/** The 403 a key gets on a route it has no scope for; names the scope and how to get a key that has it. */
export function missingScopeError(needed: Scope, granted: readonly string[]): ForbiddenError {
  return new ForbiddenError(
    'authorization',
    `this API key lacks the "${needed}" scope (it has ${granted.length ? granted.join(', ') : 'none'}); ` +
      `issue a key with it: distillery keys create --tenant <id> --name <who> --scopes ${needed}`,
  );
}
