// Argument checks with Node's semantics (lib/internal/validators.js is the reference).

import {
  ERR_INVALID_ARG_TYPE,
  ERR_OUT_OF_RANGE,
  ERR_SOCKET_BAD_PORT,
} from './errors';
import { versions } from './versions';

export function isInt32(value: unknown): value is number {
  return value === ((value as number) | 0);
}

export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw ERR_INVALID_ARG_TYPE(name, 'string', value);
}

export function validateNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw ERR_INVALID_ARG_TYPE(name, 'number', value);
}

export function validateFunction(value: unknown, name: string): asserts value is Function {
  if (typeof value !== 'function') throw ERR_INVALID_ARG_TYPE(name, 'Function', value);
}

export function validateUint32(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw ERR_INVALID_ARG_TYPE(name, 'number', value);
  if (!Number.isInteger(value)) throw ERR_OUT_OF_RANGE(name, 'an integer', value);
  if (value < 0 || value > 4_294_967_295) {
    throw ERR_OUT_OF_RANGE(name, '>= 0 && <= 4294967295', value);
  }
}

/** A plain `options` object: not null, not an array, not a function. */
export function validateObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (value === null || Array.isArray(value) || typeof value !== 'object') {
    throw ERR_INVALID_ARG_TYPE(name, 'Object', value);
  }
}

export function validateAbortSignal(signal: unknown, name: string): void {
  if (signal !== undefined &&
      (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw ERR_INVALID_ARG_TYPE(name, 'AbortSignal', signal);
  }
}

/** Whether a port counts as 0 for `allowZero: false` (see versions.portZeroStringRejected). */
const isZeroPort: (port: number | string) => boolean = versions.portZeroStringRejected
  ? (port) => +port === 0
  : (port) => port === 0;

/** A port as a number; 0 allowed only with `allowZero`. */
export function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  if ((typeof port !== 'number' && typeof port !== 'string') ||
      (typeof port === 'string' && port.trim().length === 0) ||
      +port !== (+port >>> 0) ||
      (port as number) > 0xFFFF ||
      (!allowZero && isZeroPort(port))) {
    throw ERR_SOCKET_BAD_PORT(name, port, allowZero);
  }
  return (port as number) | 0;
}
