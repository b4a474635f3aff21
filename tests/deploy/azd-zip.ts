/**
 * What `azd deploy` puts in a Function App's zip, as azd's source decides it (Azure/azure-dev, commit ae35809,
 * cli/azd/pkg/project/project_utils.go createDeployableZip and service_target_functionapp.go):
 *   - the folder zipped is the service's build output: `project` + `dist` from azure.yaml (node: `npm run build`);
 *   - the ignore file is `.funcignore` read from THAT folder (UTF-8 BOM stripped), gitignore syntax;
 *   - always left out: directories named `.azure`, the `.funcignore` file itself, files named `local.settings.json`;
 *   - with an ignore file, its patterns decide; without one, a JS/TS service drops every `node_modules` directory
 *     unless `remoteBuild: false` is set explicitly;
 *   - symlinks are followed.
 * resolveFunctionAppRemoteBuild reads `.funcignore` from the PROJECT folder (not dist) and refuses
 * `remoteBuild: false` when that file excludes node_modules.
 */
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import ignore, { type Ignore } from "ignore";

const IGNORE_FILE = ".funcignore";

function readIgnore(dir: string): Ignore | undefined {
  const file = path.join(dir, IGNORE_FILE);
  if (!existsSync(file)) return undefined;
  return ignore().add(readFileSync(file, "utf8").replace(/^\uFEFF/, ""));
}

/** The relative paths (with /) of the files azd would zip from `root`. */
export function azdZipEntries(root: string, opts: { remoteBuild?: boolean } = {}): string[] {
  const ignorer = readIgnore(root);
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const isDir = lstatSync(abs).isSymbolicLink() ? statSync(abs).isDirectory() : lstatSync(abs).isDirectory();
      if (name === ".azure" && isDir) continue;
      if (name === IGNORE_FILE && !isDir) continue;
      if (name === "local.settings.json" && !isDir) continue;
      const rel = path.relative(root, abs).split(path.sep).join("/");
      if (ignorer) {
        if (ignorer.ignores(isDir ? `${rel}/` : rel)) continue;
      } else if (name === "node_modules" && isDir && opts.remoteBuild !== false) {
        continue;
      }
      if (isDir) walk(abs);
      else out.push(rel);
    }
  };
  walk(root);
  return out;
}

/** azd's remoteBuild check on the project folder: does its .funcignore exclude node_modules? */
export function projectFuncignoreExcludesNodeModules(projectDir: string): boolean {
  return readIgnore(projectDir)?.ignores("node_modules/") ?? false;
}
