// A user policy that does nothing: what one plugin's hook costs per request (bench scenario plugin-noop).
import { definePolicy, Type } from 'gatewayd';

export default definePolicy({
  name: 'noop',
  phase: 'transform',
  order: 1,
  config: Type.Boolean(),
  create: (on) => (on ? { onRequest: () => undefined } : undefined),
});
