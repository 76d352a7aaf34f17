import type { Config } from '../../config';
import { LocalRunner } from './local';
import { OpenAIRunner } from './openai';
import type { Runner } from '../../vocabulary';
import type { TrainingRunner } from './types';

export type { TrainingRunner } from './types';

/** The runner of a kind, configured from the environment (OPENAI_BASE_URL / OPENAI_API_KEY for the hosted one). */
export function runnerFactory(training: Config['training']): (kind: Runner) => TrainingRunner {
  const local = new LocalRunner();
  let hosted: OpenAIRunner | undefined;
  return (kind) => (kind === 'local' ? local : (hosted ??= new OpenAIRunner(training.openai)));
}
