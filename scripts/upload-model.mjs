// Uploads every model and its card (model/*.onnx, model/*.json) to models/house-price/<version>/ and to
// models/house-price/current/ (what MODEL_BLOB_URL points at), with the Azure CLI and your Entra ID login.
// Node rather than sh or PowerShell so that one script serves azd's postprovision hook on every OS and the
// no-azd path in docs/DEPLOYMENT.md.
//
//   MODEL_STORAGE_ACCOUNT=<stmd...> MODEL_CONTAINER=models node scripts/upload-model.mjs
//
// azd sets both from the Bicep outputs. A new role assignment takes a while to propagate: each upload is
// retried (UPLOAD_ATTEMPTS, default 12, every UPLOAD_RETRY_SECONDS, default 10) before giving up.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const account = process.env.MODEL_STORAGE_ACCOUNT;
const container = process.env.MODEL_CONTAINER;
if (!account || !container) {
  console.error("upload-model: set MODEL_STORAGE_ACCOUNT and MODEL_CONTAINER (azd sets them from the Bicep outputs)");
  process.exit(2);
}
const attempts = Number(process.env.UPLOAD_ATTEMPTS ?? 12);
const retrySeconds = Number(process.env.UPLOAD_RETRY_SECONDS ?? 10);

const modelDir = path.join(root, "model");
const { version } = JSON.parse(readFileSync(path.join(modelDir, "model.json"), "utf8"));
const files = readdirSync(modelDir).filter((f) => /\.(onnx|json)$/.test(f));

function upload(dest, file) {
  const args = ["storage", "blob", "upload", "--auth-mode", "login", "--only-show-errors", "--overwrite"];
  args.push("--account-name", account, "--container-name", container);
  args.push("--name", `${dest}/${file}`, "--file", path.join(modelDir, file), "--output", "none");
  // On Windows `az` is az.cmd, which only a shell runs; the shell joins the arguments, so quote those with spaces.
  const win = process.platform === "win32";
  const argv = win ? args.map((a) => (/\s/.test(a) ? `"${a}"` : a)) : args;
  const run = spawnSync("az", argv, { stdio: "inherit", shell: win });
  return run.status === 0;
}

for (const dest of [`house-price/${version}`, "house-price/current"]) {
  for (const file of files) {
    let n = 1;
    while (!upload(dest, file)) {
      if (n >= attempts) {
        console.error(`upload-model: ${dest}/${file} failed ${n} times; giving up`);
        process.exit(1);
      }
      console.log(
        `upload of ${dest}/${file} failed (role assignment still propagating?); retrying in ${retrySeconds}s`,
      );
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, retrySeconds * 1000);
      n++;
    }
  }
}
console.log(`model ${version} uploaded to ${account}/${container}/house-price/current/ (${files.join(", ")})`);
