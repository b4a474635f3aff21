// Lists the longest functions in the service's own code (shared/, server/, functions/), longest first, so a
// function that outgrows one screen (about 80 lines, GUIDE.md) shows up in review. TypeScript compiler API:
// every function declaration, method, accessor, constructor, function expression and arrow function counts,
// each measured from its first to its last line (nested functions are counted in their parent too).
//   npm run function-lengths                 the 15 longest
//   npm run function-lengths -- --top 40     more
//   npm run function-lengths -- --over 80    only those longer than 80 lines (exit code 1 if any)
//   npm run function-lengths -- --root DIR   another checkout (e.g. an older commit's worktree)
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const DIRS = ["shared", "server", "functions"];

export interface FunctionLength {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function tsFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const full = path.join(dir, e);
    if (statSync(full).isDirectory()) return tsFiles(full);
    return e.endsWith(".ts") && !e.endsWith(".d.ts") ? [full] : [];
  });
}

/** A readable name for a function node: its own name, or the variable, property or call it sits in. */
function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText(sf);
  }
  if (ts.isCallExpression(parent)) return `(callback of ${parent.expression.getText(sf).slice(0, 40)})`;
  return "(anonymous)";
}

/** Every function in one source text, with its length in lines. */
export function functionLengths(file: string, text: string): FunctionLength[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ file, name: nameOf(node, sf), line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function main(argv: string[]): void {
  const arg = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const root = path.resolve(arg("--root") ?? ".");
  const top = Number(arg("--top") ?? 15);
  const over = arg("--over") === undefined ? undefined : Number(arg("--over"));
  const all = DIRS.flatMap((d) => tsFiles(path.join(root, d))).flatMap((f) =>
    functionLengths(path.relative(root, f), readFileSync(f, "utf8")),
  );
  all.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file));
  const shown = over === undefined ? all.slice(0, top) : all.filter((f) => f.lines > over);
  const width = Math.max(...shown.map((f) => `${f.file}:${f.line}`.length), 10);
  for (const f of shown)
    console.log(`${String(f.lines).padStart(4)}  ${`${f.file}:${f.line}`.padEnd(width)}  ${f.name}`);
  console.log(`(${all.length} functions in ${DIRS.join("/, ")}/)`);
  if (over !== undefined && shown.length > 0) process.exitCode = 1;
}

main(process.argv.slice(2));
