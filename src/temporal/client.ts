import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';

/** A Temporal client for the configured namespace; fails fast with a clear message when the server is down. */
export async function connectClient(temporal: Config['temporal']): Promise<Client & { close(): Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: temporal.address, connectTimeout: '10 seconds' });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${temporal.address} (TEMPORAL_ADDRESS): ${(err as Error).message}. Start one with \`distillery dev\` or \`temporal server start-dev\`.`,
    );
  }
  const client = new Client({ connection, namespace: temporal.namespace });
  return Object.assign(client, { close: () => connection.close() });
}
