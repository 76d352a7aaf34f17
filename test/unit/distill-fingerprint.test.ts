import { describe, expect, it } from 'vitest';
import { checkpointFingerprint, fineTuneJobId, trainerConfigFingerprint } from '../../src/distill/fingerprint';
import { tinyTrainerConfig } from '../../src/distill/tiny';
import type { TrainerConfig } from '../../src/distill/types';

const config = tinyTrainerConfig('/models/tiny');
const job = { workflowId: 'retrain:t@run-1/finetune/c_1', datasetId: 'ds_aaa', config, runner: 'local' };

describe('trainerConfigFingerprint', () => {
  it('ignores key order and checkpointEvery, and changes with every field that changes training', () => {
    const reordered = Object.fromEntries(Object.entries(config).reverse()) as unknown as TrainerConfig;
    expect(trainerConfigFingerprint(reordered)).toBe(trainerConfigFingerprint(config));
    expect(trainerConfigFingerprint({ ...config, checkpointEvery: 99 })).toBe(trainerConfigFingerprint(config));
    const changed: Array<Partial<TrainerConfig>> = [
      { baseModel: '/models/other' },
      { learningRate: 0.02 },
      { seed: 2 },
      { maxSteps: 31 },
      { epochs: 2 },
      { batchSize: 4 },
      { maxLength: 128 },
      { lora: { ...config.lora, r: 16 } },
      { weightDecay: 0.1 },
    ];
    const fps = new Set(changed.map((c) => trainerConfigFingerprint({ ...config, ...c })));
    expect(fps.size).toBe(changed.length);
    expect(fps.has(trainerConfigFingerprint(config))).toBe(false);
  });
});

describe('fineTuneJobId', () => {
  it('is the same for the same run, dataset and config (a retried run finds its job again)', () => {
    expect(fineTuneJobId({ ...job, config: { ...config } })).toBe(fineTuneJobId(job));
    expect(fineTuneJobId(job)).toMatch(/^ft_[0-9a-f]{12}$/);
  });

  it('differs for a new run, new data, another config or runner (no reuse of an old fine-tune)', () => {
    const ids = [
      fineTuneJobId(job),
      fineTuneJobId({ ...job, workflowId: 'retrain:t@run-2/finetune/c_1' }),
      fineTuneJobId({ ...job, datasetId: 'ds_bbb' }),
      fineTuneJobId({ ...job, config: { ...config, seed: 9 } }),
      fineTuneJobId({ ...job, runner: 'openai' }),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('checkpointFingerprint', () => {
  it('changes with the training file bytes and the training config, not with checkpointEvery', () => {
    const data = Buffer.from('{"messages":[]}\n');
    const fp = checkpointFingerprint(data, config);
    expect(checkpointFingerprint(Buffer.from(data), { ...config, checkpointEvery: 3 })).toBe(fp);
    expect(checkpointFingerprint(Buffer.from('{"messages":[1]}\n'), config)).not.toBe(fp);
    expect(checkpointFingerprint(data, { ...config, learningRate: 0.5 })).not.toBe(fp);
  });
});
