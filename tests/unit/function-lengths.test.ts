import { describe, expect, it } from "vitest";
import { functionLengths, longestFunctions } from "../../tools/function-lengths";

describe("tools/function-lengths", () => {
  it("measures every kind of function from its first to its last line, named where it sits", () => {
    const text = [
      "export function top() {", // 1
      "  const inner = () => {", // 2
      "    return 1;",
      "  };", // 4
      "  return inner();",
      "}", // 6
      "class A {",
      "  method(): void {}", // 8
      "}",
      "setTimeout(function () {", // 10
      "}, 1);", // 11
    ].join("\n");
    const found = functionLengths("x.ts", text).map(({ name, line, lines }) => ({ name, line, lines }));
    expect(found).toEqual([
      { name: "top", line: 1, lines: 6 },
      { name: "inner", line: 2, lines: 3 },
      { name: "method", line: 8, lines: 1 },
      { name: "(callback of setTimeout)", line: 10, lines: 2 },
    ]);
  });

  it("finds no function over 80 lines in shared/, server/ and functions/ (GUIDE.md)", () => {
    const all = longestFunctions(process.cwd());
    expect(all.length).toBeGreaterThan(100);
    expect(all.filter((f) => f.lines > 80).map((f) => `${f.file}:${f.line} ${f.name} (${f.lines})`)).toEqual([]);
  });
});
