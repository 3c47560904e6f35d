// Node-shaped errors: the same classes, `code`s, messages and own properties that
// node:dgram's errors carry (lib/internal/errors.js is the reference).

import { getSystemErrorMap, getSystemErrorName, inspect } from 'node:util';

import { versions } from './versions';

type ErrorBase = ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor;

/** Puts `[code]` into the stack header, as Node's own errors show it. */
function addCodeToStack(err: Error, name: string, code: string): void {
  const own = Object.getOwnPropertyDescriptor(err, 'name');
  Object.defineProperty(err, 'name', { value: `${name} [${code}]`, configurable: true, writable: true });
  void err.stack; // formats the header now, with the name above
  if (own) Object.defineProperty(err, 'name', own);
  else delete (err as { name?: string }).name;
}

const nodeErrorClasses = new Map<string, new (message: string) => Error>();

/** A class per (base, code) pair, so `err.constructor === TypeError` like Node's. */
function nodeErrorClass(Base: ErrorBase, code: string): new (message: string) => Error {
  const key = `${Base.name}:${code}`;
  let C = nodeErrorClasses.get(key);
  if (!C) {
    class NodeError extends (Base as ErrorConstructor) {
      code = code;
      constructor(message: string) {
        super(message);
        addCodeToStack(this, Base.name, code);
      }
      get ['constructor']() {
        return Base;
      }
      toString() {
        return `${this.name} [${code}]: ${this.message}`;
      }
    }
    C = NodeError;
    nodeErrorClasses.set(key, C);
  }
  return C;
}

function nodeError(Base: ErrorBase, code: string, message: string): Error & { code: string } {
  const C = nodeErrorClass(Base, code);
  return new C(message) as Error & { code: string };
}

const kTypes = ['string', 'function', 'number', 'object', 'Function', 'Object', 'boolean', 'bigint', 'symbol'];
const classRegExp = /^[A-Z][a-zA-Z0-9]*$/;

function formatList(array: string[], type = 'and'): string {
  switch (array.length) {
    case 0: return '';
    case 1: return `${array[0]}`;
    case 2: return `${array[0]} ${type} ${array[1]}`;
    default: return `${array.slice(0, -1).join(', ')}, ${type} ${array[array.length - 1]}`;
  }
}

/** How Node's messages describe a received value. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'bigint': return `type bigint (${value}n)`;
    case 'number':
      if (value === 0) return 1 / value === -Infinity ? 'type number (-0)' : 'type number (0)';
      return `type number (${value})`;
    case 'boolean': return `type boolean (${value})`;
    case 'symbol': return `type symbol (${String(value)})`;
    case 'function': return `function ${value.name}`;
    case 'object': {
      const name = instanceName(value);
      if (name !== undefined) return `an instance of ${name}`;
      return `${inspect(value, { depth: -1 })}`;
    }
    case 'string': {
      let s = value;
      if (s.length > 28) s = `${s.slice(0, 25)}...`;
      return s.indexOf("'") === -1 ? `type string ('${s}')` : `type string (${JSON.stringify(s)})`;
    }
    default: return `type ${typeof value} (${String(value)})`;
  }
}

/** The class name Node's messages give an object, or undefined (see versions.errorsReadConstructorNameOnce). */
const instanceName: (value: object) => string | undefined = versions.errorsReadConstructorNameOnce
  ? (value) => {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? name : undefined;
  }
  : (value) => {
    // As Node before: `value.constructor` is read twice, and `in` throws on a primitive.
    const v = value as { constructor?: { name?: string } };
    return v.constructor && 'name' in v.constructor ? `${v.constructor.name}` : undefined;
  };

export function ERR_INVALID_ARG_TYPE(name: string, expected: string | string[], actual: unknown) {
  const list = Array.isArray(expected) ? expected : [expected];
  let msg = 'The ';
  if (name.endsWith(' argument')) msg += `${name} `;
  else msg += `"${name}" ${name.includes('.') ? 'property' : 'argument'} `;
  msg += 'must be ';
  const types: string[] = [];
  const instances: string[] = [];
  const other: string[] = [];
  for (const v of list) {
    if (kTypes.includes(v)) types.push(v.toLowerCase());
    else if (classRegExp.test(v)) instances.push(v);
    else other.push(v);
  }
  if (instances.length > 0) {
    const pos = types.indexOf('object');
    if (pos !== -1) {
      types.splice(pos, 1);
      instances.push('Object');
    }
  }
  if (types.length > 0) {
    msg += `${types.length > 1 ? 'one of type' : 'of type'} ${formatList(types, 'or')}`;
    if (instances.length > 0 || other.length > 0) msg += ' or ';
  }
  if (instances.length > 0) {
    msg += `an instance of ${formatList(instances, 'or')}`;
    if (other.length > 0) msg += ' or ';
  }
  if (other.length > 0) {
    if (other.length > 1) msg += `one of ${formatList(other, 'or')}`;
    else {
      if (other[0].toLowerCase() !== other[0]) msg += 'an ';
      msg += `${other[0]}`;
    }
  }
  msg += `. Received ${describeValue(actual)}`;
  return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', msg);
}

function addNumericalSeparator(val: string): string {
  let res = '';
  let i = val.length;
  const start = val[0] === '-' ? 1 : 0;
  for (; i >= start + 4; i -= 3) res = `_${val.slice(i - 3, i)}${res}`;
  return `${val.slice(0, i)}${res}`;
}

export function ERR_OUT_OF_RANGE(name: string, range: string, input: unknown) {
  let received: string;
  if (Number.isInteger(input) && Math.abs(input as number) > 2 ** 32) {
    received = addNumericalSeparator(String(input));
  } else if (typeof input === 'bigint') {
    received = String(input);
    if (input > 2n ** 32n || input < -(2n ** 32n)) received = addNumericalSeparator(received);
    received += 'n';
  } else {
    received = inspect(input);
  }
  return nodeError(RangeError, 'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${received}`);
}

export function ERR_INVALID_ARG_VALUE(name: string, value: unknown, reason = 'is invalid') {
  let inspected = inspect(value);
  if (inspected.length > 128) inspected = `${inspected.slice(0, 128)}...`;
  const type = name.includes('.') ? 'property' : 'argument';
  return nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${type} '${name}' ${reason}. Received ${inspected}`);
}

export const ERR_SOCKET_BAD_PORT = (name: string, port: unknown, allowZero = true) =>
  nodeError(RangeError, 'ERR_SOCKET_BAD_PORT',
    `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describeValue(port)}.`);
export const ERR_SOCKET_BAD_TYPE = () =>
  nodeError(TypeError, 'ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6');
export const ERR_SOCKET_ALREADY_BOUND = () =>
  nodeError(Error, 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
export const ERR_SOCKET_BAD_BUFFER_SIZE = () =>
  nodeError(TypeError, 'ERR_SOCKET_BAD_BUFFER_SIZE', 'Buffer size must be a positive integer');
export const ERR_SOCKET_DGRAM_IS_CONNECTED = () =>
  nodeError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
export const ERR_SOCKET_DGRAM_NOT_CONNECTED = () =>
  nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
export const ERR_SOCKET_DGRAM_NOT_RUNNING = () =>
  nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
export const ERR_BUFFER_OUT_OF_BOUNDS = (name?: string) =>
  nodeError(RangeError, 'ERR_BUFFER_OUT_OF_BOUNDS',
    name ? `"${name}" is outside of buffer bounds` : 'Attempt to access memory outside buffer bounds');
export const ERR_MISSING_ARGS = (name: string) =>
  nodeError(TypeError, 'ERR_MISSING_ARGS', `The "${name}" argument must be specified`);
export const ERR_INVALID_FD_TYPE = (type: string) =>
  nodeError(TypeError, 'ERR_INVALID_FD_TYPE', `Unsupported fd type: ${type}`);
export const ERR_IP_BLOCKED = (ip: string) =>
  nodeError(Error, 'ERR_IP_BLOCKED', `IP(${ip}) is blocked by net.BlockList`);

/** Node's SystemError (ERR_SOCKET_BUFFER_SIZE is one): details live in `info`. */
class SystemError extends Error {
  code: string;
  declare info: Record<string, unknown>;
  declare errno: number;
  declare syscall: string;
  constructor(key: string, prefix: string, context: Record<string, unknown>) {
    super();
    const message = `${prefix}: ${context.syscall} returned ${context.code} (${context.message})`;
    this.code = key;
    Object.defineProperties(this, {
      name: { value: 'SystemError', enumerable: false, writable: true, configurable: true },
      message: { value: message, enumerable: false, writable: true, configurable: true },
      info: { value: context, enumerable: true, configurable: true, writable: false },
      errno: {
        get() { return context.errno; },
        set: (value) => { context.errno = value; },
        enumerable: true,
        configurable: true,
      },
      syscall: {
        get() { return context.syscall; },
        set: (value) => { context.syscall = value; },
        enumerable: true,
        configurable: true,
      },
    });
    addCodeToStack(this, 'SystemError', key);
  }
  toString() {
    return `${this.name} [${this.code}]: ${this.message}`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](_depth: number, ctx: object) {
    return inspect(this, { ...ctx, getters: true, customInspect: false });
  }
}

class BufferSizeError extends SystemError {
  constructor(ctx: Record<string, unknown>) {
    super('ERR_SOCKET_BUFFER_SIZE', 'Could not get or set buffer size', ctx);
  }
}
Object.defineProperty(BufferSizeError, 'name', { value: 'NodeError' });

/** ERR_SOCKET_BUFFER_SIZE for a failed buffer-size call returning `err`. */
export function ERR_SOCKET_BUFFER_SIZE(err: number, recv: boolean): Error {
  const [code, message] = getSystemErrorMap().get(err) ?? ['UNKNOWN', 'unknown error'];
  return new BufferSizeError({
    errno: err,
    code,
    message,
    syscall: recv ? 'uv_recv_buffer_size' : 'uv_send_buffer_size',
  });
}

class ErrnoError extends Error {
  errno: number;
  code: string;
  syscall: string;
  constructor(message: string, err: number, code: string, syscall: string) {
    super(message);
    this.errno = err;
    this.code = code;
    this.syscall = syscall;
  }
  get ['constructor']() {
    return Error;
  }
}
Object.defineProperty(ErrnoError, 'name', { value: 'ErrnoException' });

class HostPortError extends Error {
  errno: number;
  code: string;
  syscall: string;
  address: string | undefined;
  declare port?: number; // an own property only when set, as in Node
  constructor(message: string, err: number, code: string, syscall: string, address: string | undefined, port: number | undefined) {
    super(message);
    this.errno = err;
    this.code = code;
    this.syscall = syscall;
    this.address = address;
    if (port) this.port = port;
  }
  get ['constructor']() {
    return Error;
  }
}
Object.defineProperty(HostPortError, 'name', { value: 'ExceptionWithHostPort' });

/** `syscall CODE`, with errno/code/syscall: Node's ErrnoException. */
export function errnoException(err: number, syscall: string): Error {
  const code = getSystemErrorName(err);
  return new ErrnoError(`${syscall} ${code}`, err, code, syscall);
}

/** `syscall CODE address:port`, with address/port: Node's ExceptionWithHostPort. */
export function exceptionWithHostPort(err: number, syscall: string, address: string | undefined, port: unknown): Error {
  const code = getSystemErrorName(err);
  let details = '';
  if (port && (port as number) > 0) details = ` ${address}:${port}`;
  else if (address) details = ` ${address}`;
  return new HostPortError(`${syscall} ${code}${details}`, err, code, syscall, address, port as number | undefined);
}
