/**
 * Two connected in-memory stream ends: what one writes, the other reads. The offline gateway hands
 * one end to the real proxy server (`server.emit('connection', end)`, which node:http documents for
 * any Duplex) and the other to a real HTTP client (`http.request({ createConnection })`), so a
 * request goes through Node's own parser and serializer both ways without a port.
 */
import { Duplex } from 'node:stream';

export class MemorySocket extends Duplex {
  peer: MemorySocket | undefined = undefined;
  /** What the gateway reads as the TCP peer address (`remoteAddress`), e.g. for trustedProxies. */
  readonly remoteAddress: string;
  readonly remotePort = 40000;
  readonly remoteFamily: string;
  readonly encrypted = false;

  constructor(remoteAddress: string) {
    super();
    this.remoteAddress = remoteAddress;
    this.remoteFamily = remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.peer?.push(chunk);
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.peer?.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = undefined;
    if (peer !== undefined && !peer.destroyed) peer.destroy();
    cb(err);
  }

  // What node:http may call on a socket; nothing to do in memory.
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/** [client end, server end]; the server end reports `remoteAddress` as its peer. */
export function memorySocketPair(remoteAddress: string): [MemorySocket, MemorySocket] {
  const client = new MemorySocket('127.0.0.1');
  const server = new MemorySocket(remoteAddress);
  client.peer = server;
  server.peer = client;
  return [client, server];
}
