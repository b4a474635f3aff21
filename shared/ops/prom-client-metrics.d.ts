/** prom-client's default metrics, one CommonJS module each (`module.exports = (registry, config) => void`). */
declare module "prom-client/lib/metrics/*" {
  import type { Registry } from "prom-client";
  const register: (registry: Registry, config?: Record<string, unknown>) => void;
  export default register;
}
