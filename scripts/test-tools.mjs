// Run first by `npm test` (and so by .ci/run): makes sure the Debian packages the real-component tests need are
// here. The table is tests/support/tools.json (command -> package -> suites).
//   - all present: silent;
//   - missing and root with apt-get: installs them (one `apt-get update`), then stops the system redis-server
//     and prometheus that Debian starts on install (the tests start their own on free ports);
//   - missing otherwise: names the package and the suites that will skip; under CI=true that is an error.
import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import path from "node:path";

const { tools } = JSON.parse(
  readFileSync(path.join(import.meta.dirname, "..", "tests", "support", "tools.json"), "utf8"),
);
const ci = process.env.CI === "true";

function onPath(command) {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

const missing = () => tools.filter((t) => !onPath(t.command));
const packagesOf = (list) => [...new Set(list.map((t) => t.package))];

let absent = missing();
const canInstall = process.platform === "linux" && process.getuid?.() === 0 && onPath("apt-get");
if (absent.length > 0 && canInstall) {
  const packages = packagesOf(absent);
  console.log(`test-tools: installing ${packages.join(" ")} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], { stdio: "inherit", env });
  // Debian starts a system redis-server and prometheus on install; the tests start their own on free ports.
  for (const service of ["redis-server", "prometheus"]) {
    if (packages.includes(service) && onPath("service")) spawnSync("service", [service, "stop"], { stdio: "ignore" });
  }
  absent = missing();
}

if (absent.length > 0) {
  const bar = "!".repeat(100);
  const lines = absent.map(
    (t) => `!!  ${t.command} (Debian package ${t.package}) is missing: SKIPPED ${t.suites.join(", ")}`,
  );
  const how = `!!  Install with: sudo apt-get install ${packagesOf(absent).join(" ")}  (npm test does it when run as root)`;
  console.warn(["", bar, ...lines, how, bar, ""].join("\n"));
  if (ci) {
    console.error("test-tools: CI=true and real-component tests would be skipped; failing the run.");
    process.exit(1);
  }
}
