// The compiled binding, loaded by the loader that `napi build` generates.

import { loadNative } from './platforms';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const binding = loadNative(() => require('../../native/index.js') as typeof import('../native/index'));

export const NativeSocket = binding.NativeSocket;
export type NativeSocket = import('../native/index').NativeSocket;
