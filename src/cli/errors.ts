import { ConfigError } from '../config';
import { EmbeddedDatabaseBusyError } from '../db/client';
import { InputError } from '../errors';

/**
 * Domain errors name the input by its domain name (`tenant`, `toVersion`); on the command line the user typed a flag.
 * The one mapping from one to the other; fields without a flag (a JSON path, a positional argument) stay as they are.
 */
const FLAG_OF: Record<string, string> = {
  tenant: '--tenant',
  tenantId: '--tenant',
  run: '--run',
  clusterRunId: '--run',
  toVersion: '--to',
  from: '--from',
  to: '--to',
  model: '--model',
  'budget.maxErrorRate': '--max-error',
  'budget.confidence': '--confidence',
};

export function cliField(field: string): string {
  return FLAG_OF[field] ?? field;
}

/** The one line a user sees for an error they can fix, or undefined for anything else (a bug: print its stack). */
export function cliMessage(err: unknown): string | undefined {
  if (err instanceof InputError) return `${cliField(err.field)}: ${err.reason}`;
  if (err instanceof ConfigError || err instanceof EmbeddedDatabaseBusyError) return err.message;
  return undefined;
}
