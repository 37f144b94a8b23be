/**
 * The ResponseHead response hooks get. An upstream response's fields stay the flat list the proxy
 * hands to res.writeHead ([name, value, …], names lower-case) for as long as hooks use get/set/
 * append/delete; a hook that reads `headers` gets them as an object once, and the head is written
 * from that object. A local reply's head starts as an object (it is built as one).
 */
import type { FieldValue, ResponseHead } from './contract.js';
import { removeHeaders } from '../util/header-list.js';

export type HeadFields = Record<string, FieldValue>;

/** A flat field list as an object; a repeated field becomes an array of its lines. */
export function listToFields(list: readonly string[]): HeadFields {
  const out: HeadFields = {};
  for (let i = 0; i < list.length; i += 2) addTo(out, list[i]!, list[i + 1]!);
  return out;
}

function addTo(out: HeadFields, name: string, value: string): void {
  const prev = out[name];
  if (prev === undefined) out[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else out[name] = [String(prev), value];
}

export class HookHead implements ResponseHead {
  private list: string[] | undefined;
  private object: HeadFields | undefined;

  constructor(
    readonly status: number,
    readonly local: boolean,
    fields: string[] | HeadFields,
  ) {
    if (Array.isArray(fields)) {
      this.list = fields;
      this.object = undefined;
    } else {
      this.list = undefined;
      this.object = fields;
    }
  }

  get headers(): HeadFields {
    if (this.object === undefined) {
      this.object = listToFields(this.list!);
      this.list = undefined;
    }
    return this.object;
  }

  get(name: string): FieldValue | undefined {
    const list = this.list;
    if (list === undefined) return this.object![name];
    let found: FieldValue | undefined;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] !== name) continue;
      const v = list[i + 1]!;
      found = found === undefined ? v : Array.isArray(found) ? [...found, v] : [found as string, v];
    }
    return found;
  }

  set(name: string, value: FieldValue): void {
    const list = this.list;
    if (list === undefined) {
      this.object![name] = value;
      return;
    }
    removeHeaders(list, name);
    if (Array.isArray(value)) for (const v of value) list.push(name, v);
    else list.push(name, typeof value === 'string' ? value : String(value));
  }

  append(name: string, value: string): void {
    if (this.list !== undefined) this.list.push(name, value);
    else addTo(this.object!, name, value);
  }

  delete(name: string): void {
    if (this.list !== undefined) removeHeaders(this.list, name);
    else if (this.object![name] !== undefined) delete this.object![name];
  }

  /** What res.writeHead takes: the list, or the object once a hook read `headers`. */
  fields(): string[] | HeadFields {
    return this.list ?? this.object!;
  }
}
