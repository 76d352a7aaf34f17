import { describe, expect, it } from 'vitest';
import { TRAINER_ENV, trainerEnv } from '../../src/distill/python';

/** A worker's environment as deployed: system basics, device and thread settings, and every kind of secret. */
const parent: NodeJS.ProcessEnv = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/w',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  CUDA_VISIBLE_DEVICES: '0',
  NVIDIA_VISIBLE_DEVICES: 'all',
  LD_LIBRARY_PATH: '/usr/local/cuda/lib64',
  OMP_NUM_THREADS: '1',
  HF_HOME: '/cache/hf',
  PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True',
  DISTILLERY_TRAINER_STEP_DELAY_MS: '150',
  DATABASE_URL: 'postgres://u:pw@db/distillery',
  S3_ACCESS_KEY_ID: 'AKIA',
  S3_SECRET_ACCESS_KEY: 'secret',
  S3_BUCKET: 'b',
  S3_ENDPOINT: 'http://s3',
  AWS_SECRET_ACCESS_KEY: 'secret',
  AWS_SESSION_TOKEN: 'tok',
  OPENAI_API_KEY: 'sk-x',
  OPENAI_BASE_URL: 'http://openai',
  HF_TOKEN: 'hf_x',
  HUGGING_FACE_HUB_TOKEN: 'hf_y',
  CUDA_SECRET_THING: 'nope',
  DISTILLERY_API_KEYS: 'k',
  TEMPORAL_ADDRESS: 'localhost:7233',
};

describe('trainerEnv', () => {
  it('passes the system basics, device, thread and Hugging Face settings, and the trainer’s own knobs', () => {
    const env = trainerEnv(parent);
    for (const k of [
      'PATH',
      'HOME',
      'LANG',
      'LC_ALL',
      'CUDA_VISIBLE_DEVICES',
      'NVIDIA_VISIBLE_DEVICES',
      'LD_LIBRARY_PATH',
      'OMP_NUM_THREADS',
      'HF_HOME',
      'PYTORCH_CUDA_ALLOC_CONF',
      'DISTILLERY_TRAINER_STEP_DELAY_MS',
    ]) {
      expect(env[k], k).toBe(parent[k]);
    }
    expect(env).toMatchObject(TRAINER_ENV);
  });

  it('passes no database, blob-store, API or Temporal settings and no credentials', () => {
    const env = trainerEnv(parent);
    expect(Object.keys(env).filter((k) => /DATABASE|S3_|AWS_|OPENAI|(^|_)TOKEN($|_)|SECRET|TEMPORAL|API_KEY/.test(k))).toEqual([]);
    expect(Object.values(env)).not.toContain('secret');
  });

  it('keeps the caller’s extra variables and lets them override', () => {
    const env = trainerEnv(parent, { OMP_NUM_THREADS: '4', DISTILLERY_PEAK_FLOPS: '1e15' });
    expect(env.OMP_NUM_THREADS).toBe('4');
    expect(env.DISTILLERY_PEAK_FLOPS).toBe('1e15');
  });
});
