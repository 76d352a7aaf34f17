import type { TestStack } from './global-setup';
import type {} from 'vitest';

// What global-setup provides to integration tests through vitest's inject('stack').
declare module 'vitest' {
  export interface ProvidedContext {
    stack: TestStack;
  }
}
