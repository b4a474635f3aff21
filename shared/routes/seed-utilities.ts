import { jsonResponse, type CoreRequest, type CoreResponse } from "../http/core";
import type { Endpoint, ServiceContext } from "../http/endpoint";
import { problemResponse } from "../http/problems";

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The seed project's endpoints, kept with their original answers: /hello, °F → °C and /api/healthcheck. */
export function seedUtilityRoutes(ctx: ServiceContext): Endpoint[] {
  const { legacy } = ctx;

  async function hello(req: CoreRequest): Promise<CoreResponse> {
    const name = req.query.get("name");
    if (name === null || name === "") {
      return problemResponse({
        code: "validation",
        detail: "name is required",
        errors: [
          { path: "name", message: name === null ? "is required" : "must not be empty", received: name ?? undefined },
        ],
      });
    }
    return jsonResponse(200, { message: `hello ${name}` });
  }

  async function fahrenheitToCelsius(req: CoreRequest): Promise<CoreResponse> {
    const raw = req.query.get("fahrenheit");
    if (raw === null || raw.trim() === "")
      return legacy(400, { error: "Missing required query parameter: fahrenheit" });
    const text = raw.trim();
    // Decimal notation only: Number() would also take "0x10", "0b11" or "Infinity".
    const f = DECIMAL.test(text) ? Number(text) : NaN;
    const exact = ((f - 32) * 5) / 9;
    if (!Number.isFinite(exact)) {
      return legacy(400, {
        error: `Invalid fahrenheit value: ${JSON.stringify(raw.slice(0, 100))} is not a finite number`,
      });
    }
    // Rounded to 10 decimals so that 98.6 °F reads 37, not 36.99999999999999 (beyond 1e15 there is nothing to round).
    const celsius = Math.abs(exact) < 1e15 ? Number(exact.toFixed(10)) : exact;
    return legacy(200, { celsius: Object.is(celsius, -0) ? 0 : celsius });
  }

  return [
    { name: "hello", method: "GET", route: "/hello", rateLimited: true, handler: hello },
    {
      name: "convert_fahrenheit_to_celsius",
      method: "GET",
      route: "/api/convert-fahrenheit-to-celsius",
      rateLimited: true,
      handler: fahrenheitToCelsius,
    },
    { name: "api_healthcheck", method: "GET", route: "/api/healthcheck", handler: async () => legacy(200, {}) },
  ];
}
