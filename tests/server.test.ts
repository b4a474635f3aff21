/** Behaviour only the standalone server has: raw HTTP framing, connection handling, model recovery. */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECURITY_HEADERS } from "../shared/http/security-headers";
import { SEED_HOUSE } from "../shared/input/features";
import { createHttpServer } from "../server/http";
import { standaloneHost, testService, type Host } from "./support/hosts";

/** Sends raw bytes and resolves with everything the server wrote until it closed (or 3 s). */
function raw(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(payload));
    let data = "";
    socket.on("data", (d) => (data += d.toString()));
    const done = () => resolve(data);
    socket.on("close", done);
    socket.on("error", done);
    setTimeout(() => {
      socket.destroy();
      done();
    }, 3000);
  });
}

describe("the standalone server on the wire", () => {
  let port: number;
  let close: () => Promise<unknown>;
  const service = testService();
  beforeAll(async () => {
    const host = createHttpServer(service);
    port = await host.listen(0, "127.0.0.1");
    close = () => host.drain(500);
  });
  afterAll(async () => {
    await close();
    await service.close();
  });

  it("accepts the absolute-form request target", async () => {
    const out = await raw(
      port,
      "GET http://example.test/hello?name=Ada HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
    );
    expect(out).toMatch(/^HTTP\/1\.1 200/);
    expect(out).toContain('{"message":"hello Ada"}');
  });

  it("answers a malformed request with JSON, the replica id and security headers", async () => {
    const out = await raw(port, "GARBAGE\r\n\r\n");
    expect(out).toMatch(/^HTTP\/1\.1 400/);
    expect(out).toContain(`x-app-identifier: ${service.instanceId}`);
    expect(out).toContain("x-content-type-options: nosniff");
    expect(out).toContain('"error":"Bad Request"');
  });

  it("sends the core's whole security-header set with its own error answers (x-frame-options included)", async () => {
    const out = await raw(port, "GARBAGE\r\n\r\n");
    const served = await fetch(`http://127.0.0.1:${port}/hello?name=a`);
    expect(Object.keys(SECURITY_HEADERS)).toContain("x-frame-options");
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      expect(out).toContain(`${name}: ${value}\r\n`);
      expect(served.headers.get(name)).toBe(value);
    }
  });

  it("closes the connection after refusing a request whose body it did not read", async () => {
    const body = JSON.stringify(SEED_HOUSE);
    const out = await raw(
      port,
      `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 415/);
    expect(out.toLowerCase()).toContain("connection: close");
  });
});

describe("model recovery", () => {
  let dir: string;
  let host: Host;
  const card = JSON.parse(readFileSync("model/model.json", "utf8"));
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "model-bad-"));
    copyFileSync("model/model.onnx", path.join(dir, "model.onnx"));
    // Bytes verify against the card, but the card describes other features: not a usable model.
    writeFileSync(path.join(dir, "model.json"), JSON.stringify({ ...card, features: [{ name: "x" }] }));
    host = await standaloneHost(testService({ MODEL_PATH: path.join(dir, "model.onnx") }));
  });
  afterAll(async () => {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports an unusable model without paths, keeps retrying, and serves once the model is fixed", async () => {
    host.service.holder.get();
    let health = await host.send("GET", "/health");
    for (let i = 0; i < 50 && !String(health.json().reason).startsWith("integrity"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      health = await host.send("GET", "/health");
    }
    expect(health.status).toBe(503);
    expect(health.json().reason).toBe("integrity: the model does not match its card (sha256, format or features)");
    expect(health.text).not.toContain(dir);
    writeFileSync(path.join(dir, "model.json"), JSON.stringify(card));
    for (let i = 0; i < 100 && health.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      health = await host.send("GET", "/health");
    }
    expect(health.status).toBe(200);
    const r = await host.send("POST", "/predict", {
      body: JSON.stringify(SEED_HOUSE),
      headers: { "content-type": "application/json" },
    });
    expect(r.status).toBe(200);
  });
});
