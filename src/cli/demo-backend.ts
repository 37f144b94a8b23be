import { startDemoBackend } from '../demo-backend.js';
import { str, type Command } from './command.js';

export const demoBackendCommand: Command = {
  name: 'demo-backend',
  usage: 'demo-backend [--port 9000] [--host 127.0.0.1]',
  summary: 'Run the demo backend: echo, /status/:code, /delay/:ms, /bytes/:n, /health.',
  help: `
  -p, --port PORT   port to listen on (default 9000; 0 picks a free one)
  --host ADDRESS    address to listen on (default 127.0.0.1)`,
  options: { port: { type: 'string', short: 'p' }, host: { type: 'string' } },
  async run(values) {
    const backend = await startDemoBackend(Number(str(values['port']) ?? 9000), str(values['host']) ?? '127.0.0.1');
    console.log(`demo backend listening on ${backend.url}`);
    const stop = () => void backend.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return -1;
  },
};
